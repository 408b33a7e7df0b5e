// How much of the gradient all-reduce the bucketed reducer hides behind backward, on CPU with the
// MPI communicator. Run under `mpirun -np 2`, one compute thread per rank:
//   mpirun -np 2 gradient_reducer_bench [--layers=7] [--width=2048] [--batch=256] [--steps=6]
//                                       [--bucket-mb=25]
// The model is a stack of Linear+GELU layers (7 x 2048^2 ~ 29M float parameters by default). Per
// mode it reports, as the median over steps of the slowest rank: forward, backward, the time
// finish() blocked after backward (exposed communication), the time the communication thread
// spent in all-reduces, and the whole step (median and best); and, for reference, the all-reduce
// of every bucket alone with idle cores. Modes (each with its own model replica and reducer),
// taking turns step by step:
// "local" (no communication: the compute-only floor), "overlap off" (every bucket all-reduced
// after backward), "overlap on" (buckets all-reduced from the autograd hooks while backward
// runs), "on, summed" (the same without the division by the world size in finish()), and
// "off, bf16" / "on, bf16" (buckets on the wire as bfloat16: train.grad_compression: bf16).
// Every mode all-reduces float32 through the shared-memory window (train.shared_memory, the
// default) except "off, mpi" / "on, mpi", which use Open MPI's MPI_Allreduce.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/util/error.h"
#include "distributed/communicator.h"
#include "distributed/gradient_reducer.h"
#include "distributed/mpi_context.h"

namespace {

using dgr::distributed::Communicator;
using dgr::distributed::DataType;
using dgr::distributed::GradientReducer;
using dgr::distributed::ReduceOp;

struct Options {
  int layers = 7;
  int64_t width = 2048;
  int64_t batch = 256;
  int steps = 6;  // measured, after one warm-up step
  double bucket_mb = 25;
};

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      const size_t n = std::strlen(name);
      return arg.compare(0, n, name) == 0 ? arg.c_str() + n : nullptr;
    };
    if (const char* v = value("--layers=")) {
      options.layers = std::atoi(v);
    } else if (const char* v = value("--width=")) {
      options.width = std::atoll(v);
    } else if (const char* v = value("--batch=")) {
      options.batch = std::atoll(v);
    } else if (const char* v = value("--steps=")) {
      options.steps = std::atoi(v);
    } else if (const char* v = value("--bucket-mb=")) {
      options.bucket_mb = std::atof(v);
    } else {
      throw dgr::ConfigError("unknown argument '" + arg +
                             "' (--layers= --width= --batch= --steps= --bucket-mb=)");
    }
  }
  return options;
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct StepTimes {
  double forward = 0, backward = 0, exposed = 0, comm = 0, step = 0;
  double skew = 0;  // how much later the slowest rank finished backward than the fastest
};

// The slowest rank's value.
double max_over_ranks(Communicator& comm, double value) {
  comm.all_reduce(&value, 1, DataType::kFloat64, ReduceOp::kMax);
  return value;
}
double min_over_ranks(Communicator& comm, double value) {
  comm.all_reduce(&value, 1, DataType::kFloat64, ReduceOp::kMin);
  return value;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

struct Mode {
  const char* name;
  bool reduce;                // false: local backward only, the compute floor
  bool overlap;               // bucket all-reduces launched from the hooks during backward
  bool average;               // finish() divides by the world size
  bool bf16 = false;          // buckets travel as bfloat16
  bool shared_memory = true;  // float32 through the shared-memory window, else MPI_Allreduce
};

torch::nn::Sequential make_model(const Options& options) {
  torch::manual_seed(1);
  torch::nn::Sequential model;
  for (int l = 0; l < options.layers; ++l) {
    model->push_back(torch::nn::Linear(options.width, options.width));
    model->push_back(torch::nn::Functional(torch::gelu, "none"));
  }
  return model;
}

// A mode's own model replica and reducer, built once as a trainer would.
struct Runner {
  Mode mode;
  torch::nn::Sequential model;
  std::unique_ptr<GradientReducer> reducer;
  std::vector<StepTimes> times;
};

StepTimes run_step(Runner& runner, Communicator& comm, const torch::Tensor& x) {
  comm.barrier();
  const double t0 = now();
  if (runner.reducer) {
    runner.reducer->begin_step(true);
  } else {
    runner.model->zero_grad();
  }
  const torch::Tensor loss = runner.model->forward(x).pow(2).mean();
  const double t1 = now();
  loss.backward();
  const double t2 = now();
  if (runner.reducer) runner.reducer->finish();
  const double t3 = now();
  StepTimes times;
  times.forward = max_over_ranks(comm, t1 - t0);
  times.backward = max_over_ranks(comm, t2 - t1);
  times.exposed = max_over_ranks(comm, t3 - t2);
  times.comm = max_over_ranks(comm, runner.reducer ? runner.reducer->last_comm_seconds() : 0.0);
  times.step = max_over_ranks(comm, t3 - t0);
  times.skew = max_over_ranks(comm, t2 - t0) - min_over_ranks(comm, t2 - t0);
  return times;
}

// Every bucket all-reduced with idle cores, on `comm`: blocking on this thread, then all submitted
// to the communication thread and waited for. Median milliseconds of the slowest rank.
std::pair<double, double> communication_alone(GradientReducer& reducer, Communicator& comm,
                                              int steps) {
  std::vector<double> blocking, threaded;
  for (int s = 0; s <= steps; ++s) {
    comm.barrier();
    double t0 = now();
    for (size_t b = 0; b < reducer.bucket_count(); ++b) {
      const torch::Tensor& buffer = reducer.bucket_buffer(b);
      comm.all_reduce(buffer.data_ptr(), static_cast<size_t>(buffer.numel()), DataType::kFloat32,
                      ReduceOp::kSum);
    }
    const double blocking_s = max_over_ranks(comm, now() - t0);
    comm.barrier();
    t0 = now();
    std::vector<std::shared_ptr<dgr::distributed::Work>> works;
    for (size_t b = 0; b < reducer.bucket_count(); ++b) {
      const torch::Tensor& buffer = reducer.bucket_buffer(b);
      works.push_back(comm.all_reduce_async(buffer.data_ptr(), static_cast<size_t>(buffer.numel()),
                                            DataType::kFloat32, ReduceOp::kSum));
    }
    for (auto& work : works)
      work->wait();
    const double threaded_s = max_over_ranks(comm, now() - t0);
    if (s > 0) {  // the first round warms up
      blocking.push_back(blocking_s * 1e3);
      threaded.push_back(threaded_s * 1e3);
    }
  }
  return {median(blocking), median(threaded)};
}

}  // namespace

int main(int argc, char** argv) {
  dgr::distributed::MpiContext mpi(&argc, &argv);
  try {
    const Options options = parse(argc, argv);
    torch::set_num_threads(1);
    auto comm = dgr::distributed::make_communicator("mpi", mpi);
    dgr::distributed::MpiCommunicatorOptions plain;
    plain.shared_memory = false;
    auto mpi_comm = dgr::distributed::make_communicator("mpi", mpi, 0, 600, plain);

    std::vector<Runner> runners;
    for (const Mode& mode :
         {Mode{"local", false, false, false}, Mode{"overlap off", true, false, true},
          Mode{"overlap on", true, true, true}, Mode{"on, summed", true, true, false},
          Mode{"off, bf16", true, false, true, true}, Mode{"on, bf16", true, true, true, true},
          Mode{"off, mpi", true, false, true, false, false},
          Mode{"on, mpi", true, true, true, false, false}}) {
      Runner runner{mode, make_model(options), nullptr, {}};
      if (mode.reduce) {
        dgr::distributed::GradientReducerOptions reducer_options;
        reducer_options.bucket_mb = options.bucket_mb;
        reducer_options.overlap = mode.overlap;
        reducer_options.average = mode.average;
        reducer_options.bf16_compression = mode.bf16;
        runner.reducer = std::make_unique<GradientReducer>(
            runner.model->parameters(), mode.shared_memory ? *comm : *mpi_comm, reducer_options);
      }
      runners.push_back(std::move(runner));
    }
    int64_t params = 0;
    for (const auto& p : runners[0].model->parameters())
      params += p.numel();
    const GradientReducer& reducer = *runners[1].reducer;
    const auto [blocking_ms, threaded_ms] =
        communication_alone(*runners[1].reducer, *comm, options.steps);
    const auto [mpi_blocking_ms, mpi_threaded_ms] =
        communication_alone(*runners[1].reducer, *mpi_comm, options.steps);

    // The modes take turns step by step, so that the load of the (shared) machine spreads evenly.
    torch::manual_seed(7 + comm->rank());
    const torch::Tensor x = torch::randn({options.batch, options.width});  // [B, W] per rank
    for (int s = 0; s <= options.steps; ++s) {
      for (Runner& runner : runners) {
        const StepTimes t = run_step(runner, *comm, x);
        if (s > 0) runner.times.push_back(t);  // step 0 warms up
      }
    }

    if (!mpi.is_root()) return 0;
    std::printf(
        "gradient_reducer_bench: %d ranks x %d thread(s), %d x Linear(%lld, %lld) = %.1fM float "
        "parameters (%.0f MB), batch %lld per rank, %zu buckets of <= %.0f MiB; median of %d "
        "steps, slowest rank\n",
        comm->size(), torch::get_num_threads(), options.layers,
        static_cast<long long>(options.width), static_cast<long long>(options.width), params / 1e6,
        params * 4 / 1e6, static_cast<long long>(options.batch), reducer.bucket_count(),
        options.bucket_mb, options.steps);
    std::printf(
        "all-reduce of every bucket alone (idle cores): %s %.1f ms blocking, %.1f ms through "
        "the communication thread; MPI_Allreduce %.1f ms blocking, %.1f ms through the thread\n",
        comm->transport().c_str(), blocking_ms, threaded_ms, mpi_blocking_ms, mpi_threaded_ms);
    std::printf("%-12s %10s %11s %8s %11s %9s %9s %9s %13s\n", "mode", "forward_ms", "backward_ms",
                "skew_ms", "exposed_ms", "comm_ms", "step_ms", "best_ms", "exposed/step");
    for (const Runner& runner : runners) {
      auto column = [&](double StepTimes::*field) {
        std::vector<double> values;
        for (const StepTimes& t : runner.times)
          values.push_back(t.*field * 1e3);
        return values;
      };
      const std::vector<double> steps = column(&StepTimes::step);
      const double step = median(steps);
      const double exposed = median(column(&StepTimes::exposed));
      std::printf("%-12s %10.1f %11.1f %8.1f %11.1f %9.1f %9.1f %9.1f %12.1f%%\n", runner.mode.name,
                  median(column(&StepTimes::forward)), median(column(&StepTimes::backward)),
                  median(column(&StepTimes::skew)), exposed, median(column(&StepTimes::comm)), step,
                  *std::min_element(steps.begin(), steps.end()), 100.0 * exposed / step);
    }
  } catch (const dgr::Error& error) {
    mpi.abort(2, std::string(error.kind()) + ": " + error.what());
  }
  return 0;
}
