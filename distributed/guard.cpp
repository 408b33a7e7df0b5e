#include "distributed/guard.h"

#include <glog/logging.h>

#include <cstdio>
#include <exception>
#include <string>

#include "core/util/error.h"

namespace dgr::distributed {
namespace {

int fail(const MpiContext& ctx, int code, const std::string& what) {
  if (ctx.size() > 1) ctx.abort(code, what);
  std::fprintf(stderr, "dgr: %s %s\n", rank_tag(ctx.rank(), ctx.size()).c_str(), what.c_str());
  std::fflush(stderr);
  google::FlushLogFiles(google::GLOG_INFO);
  return code;
}

}  // namespace

int run_on_all_ranks(MpiContext& ctx, const std::function<int()>& body) {
  try {
    return body();
  } catch (const Error& e) {
    return fail(ctx, kExitUserError, std::string(e.kind()) + ": " + e.what());
  } catch (const std::exception& e) {
    return fail(ctx, kExitInternalError, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(ctx, kExitInternalError, "internal error: unknown exception");
  }
}

}  // namespace dgr::distributed
