#include "teacher/rank_job.h"

#include <glog/logging.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/eval/qrels.h"
#include "core/index/manifest.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/hash.h"
#include "core/util/memory.h"
#include "core/util/timing.h"
#include "data/answers.h"
#include "data/dataset.h"
#include "data/distill_set.h"
#include "data/stage_outputs.h"
#include "distributed/hdf5_group.h"
#include "teacher/distillation.h"
#include "teacher/run_file_teacher.h"

namespace dgr::teacher {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using config::key_name;
using config::option_key;
using config::OptionError;

// Queries scored per teacher call: the unit of progress lines.
constexpr size_t kScoreChunk = 64;

// Which retrieval outputs and which index the candidates come from, as `dgr retrieve` recorded
// them in its outputs manifest (data/stage_outputs.h).
struct CandidateSource {
  RetrievalOutputs outputs;
  std::string index_dir;
};

CandidateSource candidate_source(const TeacherOptions& t) {
  const std::string& dir = t.candidates_dir;
  if (dir.empty()) {
    throw OptionError(
        "{} is 'retrieve' but {} is empty: pass --candidates DIR (a `dgr retrieve` output "
        "directory) or take BM25's candidates",
        {option_key(t, t.candidates), option_key(t, t.candidates_dir)});
  }
  if (!fs::is_directory(dir)) {
    throw IoError(key_name(option_key(t, t.candidates_dir)) + " " + dir + " is not a directory");
  }
  // What `dgr retrieve` handed over: its run, its keys and the index it searched.
  const data::RetrievalManifest manifest = data::read_retrieval_manifest(dir);
  CandidateSource source;
  source.outputs.run_path = manifest.run;
  source.outputs.keys_path = manifest.keys;
  source.index_dir = manifest.index_dir;
  if (source.outputs.keys_path.empty() || !file_exists(source.outputs.keys_path)) {
    throw IoError(
        (source.outputs.keys_path.empty() ? dir + "/keys.jsonl" : source.outputs.keys_path) +
        " does not exist: run `dgr retrieve` with its keys dumped (dump_keys)");
  }
  return source;
}

// The teacher the options choose; the cross-encoder reads the corpus's texts.
std::unique_ptr<TeacherRanker> make_teacher(const TeacherOptions& t,
                                            const std::shared_ptr<const Bm25Index>& bm25,
                                            const data::Corpus* corpus, int threads,
                                            const std::string& device) {
  if (t.kind == "bm25") return std::make_unique<Bm25Ranker>(bm25, threads);
  if (t.kind == "run-file") {
    RunFileTeacherOptions options;
    options.missing_pair = parse_missing_pair_policy(t.missing_pair);
    return std::make_unique<RunFileTeacher>(t.run, options);
  }
  CrossEncoderTeacherOptions c = t.cross_encoder;
  if (!device.empty()) c.device = device;
  return std::make_unique<CrossEncoderTeacher>(c.checkpoint, *corpus, c);
}

}  // namespace

RankJobReport rank_distill_set(distributed::MpiContext& mpi, const TeacherOptions& t,
                               const RankJobInputs& in) {
  check_rank_options(t);
  const bool from_retrieval = t.candidates == "retrieve";
  const bool need_bm25 = t.kind == "bm25" || !from_retrieval;
  CandidateSource source;
  if (from_retrieval) source = candidate_source(t);

  // What the set records about its inputs, computed once on rank 0. The candidates' passage
  // numbers are only meaningful when the index was built from this very corpus.
  data::DistillSetMeta meta;
  meta.config_hash = in.config_hash;
  meta.candidates_per_query = t.num_candidates;
  meta.max_keys_per_candidate = t.max_keys;
  if (mpi.is_root()) {
    meta.corpus_hash = sha256_file(in.corpus);
    meta.created = creation_time();
    if (from_retrieval) {
      const index::Manifest manifest = index::Manifest::read(source.index_dir + "/manifest.yaml");
      if (manifest.corpus_hash != meta.corpus_hash) {
        throw ConfigError("the index " + source.index_dir + " of the candidates in " +
                          t.candidates_dir + " was built from another corpus than " + in.corpus +
                          " (corpus hash " + manifest.corpus_hash.substr(0, 12) + " vs " +
                          meta.corpus_hash.substr(0, 12) + ")");
      }
      meta.index_hash = data::index_content_hash(manifest);
      if (!in.index_dir.empty() && in.index_dir != source.index_dir) {
        const std::string configured = index_hash_of(in.index_dir);
        if (configured != meta.index_hash) {
          throw ConfigError("the candidates in " + t.candidates_dir +
                            " were retrieved from the index " + source.index_dir + " (hash " +
                            meta.index_hash.substr(0, 12) + ") but the configured index is " +
                            in.index_dir + " (hash " + configured.substr(0, 12) + ")");
        }
      }
    }
  }
  mpi.broadcast_string(meta.corpus_hash);
  mpi.broadcast_string(meta.index_hash);
  mpi.broadcast_string(meta.created);

  const data::Queries queries = data::load_queries(in.queries);
  const eval::Qrels qrels = data::read_qrels(in.qrels_path);
  const std::vector<data::Query> training =
      training_queries(queries, in.queries, qrels, in.qrels_path);
  const size_t total = training.size();
  const auto size = static_cast<size_t>(mpi.size());
  const auto rank = static_cast<size_t>(mpi.rank());
  const size_t lo = total * rank / size;
  const size_t hi = total * (rank + 1) / size;
  const std::vector<data::Query> slice(training.begin() + static_cast<std::ptrdiff_t>(lo),
                                       training.begin() + static_cast<std::ptrdiff_t>(hi));

  // The corpus: its texts for the cross-encoder, else only its ids (and BM25's index).
  const auto load_start = Clock::now();
  std::unique_ptr<data::Corpus> corpus;
  const bool by_answers = t.labels == "answers";
  if (t.kind == "cross-encoder" || by_answers) {
    corpus = std::make_unique<data::Corpus>(data::load_corpus(in.corpus, in.corpus_format));
  }
  std::shared_ptr<const Bm25Index> bm25;
  if (need_bm25) {
    bm25 = corpus ? std::make_shared<const Bm25Index>(
                        Bm25Index::build(*corpus, t.bm25, in.threads, in.corpus))
                  : std::make_shared<const Bm25Index>(
                        Bm25Index::build(in.corpus, in.corpus_format, t.bm25, in.threads));
  }
  CandidateOptions candidate_options;
  candidate_options.num_candidates = static_cast<size_t>(t.num_candidates);
  candidate_options.max_keys = static_cast<size_t>(t.max_keys);
  std::vector<CandidateList> lists;
  if (from_retrieval) {
    const CorpusIds ids =
        corpus ? CorpusIds::of(*corpus, in.corpus) : CorpusIds::read(in.corpus, in.corpus_format);
    lists = retrieval_candidates(source.outputs, slice, queries, in.queries, ids, qrels,
                                 in.qrels_path, candidate_options);
  } else {
    lists = bm25_candidates(*bm25, slice, qrels, in.qrels_path, candidate_options, in.threads);
  }
  if (by_answers) {
    const data::Corpus& texts = *corpus;
    const eval::AnswerMatcher matcher(
        data::read_answers(in.answers_path),
        [&texts](const std::string& id) { return texts.text_of(id); });
    label_by_answers(lists, matcher);
  }
  std::unique_ptr<TeacherRanker> ranker =
      make_teacher(t, bm25, corpus.get(), in.threads, in.cross_encoder_device);
  meta.teacher = ranker->name();
  meta.extra = {{"candidates", from_retrieval ? "retrieve" : "bm25"},
                {"queries", in.queries},
                {"qrels", in.qrels_path},
                {"labels", t.labels},
                {"corpus", in.corpus}};
  if (from_retrieval) meta.extra["candidates_dir"] = t.candidates_dir;
  RankJobReport report;
  report.teacher = meta.teacher;
  report.queries = total;
  report.load_seconds = seconds_since(load_start);
  LOG_IF(INFO, mpi.is_root()) << "teacher " << meta.teacher << ": " << total
                              << " training queries on " << mpi.size() << " rank(s); loaded in "
                              << report.load_seconds << " s";

  const auto score_start = Clock::now();
  for (size_t begin = 0; begin < lists.size(); begin += kScoreChunk) {
    const size_t end = std::min(lists.size(), begin + kScoreChunk);
    score_candidates(*ranker, lists, begin, end);
    LOG_IF(INFO, mpi.is_root()) << "scored " << end << " / " << lists.size()
                                << " queries of rank 0 in " << seconds_since(score_start) << " s";
  }
  const double score_seconds = seconds_since(score_start);
  size_t candidates = 0, judged = 0, positive = 0, keys = 0;
  for (const CandidateList& list : lists) {
    for (const data::DistillCandidate& c : list.record.candidates) {
      ++candidates;
      judged += c.label >= 0 ? 1 : 0;
      positive += c.label > 0 ? 1 : 0;
      keys += c.keys.size();
    }
  }
  const std::vector<data::DistillQuery> records = take_records(std::move(lists));

  const auto write_start = Clock::now();
  const data::h5::WriterGroup group = distributed::hdf5_job_group(mpi.comm());
  data::write_distill_set(in.set_path, meta, records, lo, total, group);
  report.write_seconds = seconds_since(write_start);

  // Every rank's counts, summed on rank 0.
  const nlohmann::json local = {{"candidates", candidates},       {"judged", judged},
                                {"positive", positive},           {"keys", keys},
                                {"score_seconds", score_seconds}, {"rss", peak_rss_bytes()}};
  const std::vector<std::string> gathered = mpi.gather_strings(local.dump());
  for (const std::string& text : gathered) {  // empty on the other ranks
    const nlohmann::json j = nlohmann::json::parse(text);
    report.candidates += j["candidates"].get<size_t>();
    report.judged += j["judged"].get<size_t>();
    report.positive += j["positive"].get<size_t>();
    report.keys += j["keys"].get<size_t>();
    report.score_seconds = std::max(report.score_seconds, j["score_seconds"].get<double>());
    report.peak_rss_bytes = std::max(report.peak_rss_bytes, j["rss"].get<uint64_t>());
  }
  return report;
}

}  // namespace dgr::teacher
