// check_output_directory, the pre-flight check of a training command's output directory: too
// little free space, a directory that cannot be created (a path below a regular file, or a
// regular file itself) and one that cannot be written (a read-only mount) are IoErrors naming
// the directory and the reason; and a write that runs out of space is an IoError naming the file
// (write_file_atomic, which every checkpoint file goes through). The mount cases need
// `mount` (root in a container that allows it) and are skipped where it is not permitted.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/util/error.h"
#include "core/util/files.h"

namespace dgr {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMiB = 1024 * 1024;

class OutputCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(DGR_TEST_TMP_DIR) /
           ("output-check-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (mounted_) ::umount2(mount_point_.c_str(), MNT_DETACH);
    fs::remove_all(dir_);
  }

  // A tmpfs mounted with `flags` and `options` at dir_/mnt; false (and the reason in `why`) when
  // mounting is not permitted here.
  bool mount_tmpfs(unsigned long flags, const std::string& options, std::string& why) {
    mount_point_ = (dir_ / "mnt").string();
    fs::create_directories(mount_point_);
    if (::mount("tmpfs", mount_point_.c_str(), "tmpfs", flags, options.c_str()) != 0) {
      why = std::string("mount -t tmpfs is not permitted here: ") + std::strerror(errno);
      return false;
    }
    mounted_ = true;
    return true;
  }

  // The message of the IoError that `body` throws ("" when it throws none).
  template <class Body>
  static std::string io_error(Body&& body) {
    try {
      body();
    } catch (const IoError& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
  std::string mount_point_;
  bool mounted_ = false;
};

TEST_F(OutputCheck, AWritableDirectoryWithRoomPassesAndKeepsNoProbe) {
  const std::string out = (dir_ / "run" / "nested").string();
  EXPECT_NO_THROW(check_output_directory(out, 1));
  ASSERT_TRUE(fs::is_directory(out));
  EXPECT_TRUE(fs::is_empty(out)) << "the write probe was left behind";
}

TEST_F(OutputCheck, TooLittleFreeSpaceNamesTheDirectoryAndBothSizes) {
  struct statvfs vfs {};
  ASSERT_EQ(::statvfs(dir_.c_str(), &vfs), 0);
  const uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  const uint64_t required = free_bytes + 1024 * kMiB;  // far more than what is free
  const std::string message = io_error([&] { check_output_directory(dir_.string(), required); });
  EXPECT_NE(message.find(dir_.string() + ": "), std::string::npos) << message;
  EXPECT_NE(message.find(" MiB free, a checkpoint needs about " +
                         std::to_string((required + kMiB - 1) / kMiB) + " MiB"),
            std::string::npos)
      << message;
  const std::string model =
      io_error([&] { check_output_directory(dir_.string(), required, "the trained model"); });
  EXPECT_NE(model.find("MiB free, the trained model needs about"), std::string::npos) << model;
}

TEST_F(OutputCheck, APathBelowARegularFileCannotBeCreated) {
  const fs::path file = dir_ / "a-file";
  std::ofstream(file) << "not a directory\n";
  const std::string below = (file / "run").string();
  const std::string message = io_error([&] { check_output_directory(below, 1); });
  EXPECT_NE(message.find(below + ": "), std::string::npos) << message;
  EXPECT_NE(message.find(std::strerror(ENOTDIR)), std::string::npos) << message;
  // The regular file itself is no directory either.
  const std::string itself = io_error([&] { check_output_directory(file.string(), 1); });
  EXPECT_NE(itself.find(file.string() + ": exists and is not a directory"), std::string::npos)
      << itself;
}

TEST_F(OutputCheck, AReadOnlyFileSystemIsNamedWithTheReason) {
  // Root passes permission checks (chmod would not stop it); a read-only mount stops everyone.
  std::string why;
  if (!mount_tmpfs(MS_RDONLY, "size=1m", why)) GTEST_SKIP() << why;
  const std::string message = io_error([&] { check_output_directory(mount_point_, 1); });
  EXPECT_NE(message.find(mount_point_ +
                         ": cannot write a file in this directory: " + std::strerror(EROFS)),
            std::string::npos)
      << message;
  const std::string below = mount_point_ + "/run";
  const std::string nested = io_error([&] { check_output_directory(below, 1); });
  EXPECT_NE(nested.find(below + ": "), std::string::npos) << nested;
  EXPECT_NE(nested.find(std::strerror(EROFS)), std::string::npos) << nested;
}

TEST_F(OutputCheck, ASmallFileSystemFailsTheCheckAndAFullOneFailsTheWrite) {
  std::string why;
  if (!mount_tmpfs(0, "size=1m", why)) GTEST_SKIP() << why;
  EXPECT_NO_THROW(check_output_directory(mount_point_, kMiB / 2));
  const std::string message = io_error([&] { check_output_directory(mount_point_, 4 * kMiB); });
  EXPECT_NE(message.find(mount_point_ + ": 1 MiB free, a checkpoint needs about 4 MiB"),
            std::string::npos)
      << message;
  // Past the check, the disk fills during a save: the file is named with ENOSPC, and neither it
  // nor its temporary file is left behind.
  const std::string file = mount_point_ + "/model.safetensors";
  const std::string content(2 * kMiB, 'x');
  const std::string full = io_error([&] { write_file_atomic(file, content); });
  EXPECT_NE(full.find(file + ": write failed: " + std::strerror(ENOSPC)), std::string::npos)
      << full;
  EXPECT_TRUE(fs::is_empty(mount_point_));
}

}  // namespace
}  // namespace dgr
