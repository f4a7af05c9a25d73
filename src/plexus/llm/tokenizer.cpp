// SentencePiece BPE wrapper over the plexus_spm shim. See tokenizer.h.
#include "plexus/llm/tokenizer.h"

#include <dlfcn.h>

#include <cstdlib>
#include <fstream>
#include <memory>

#include "plexus/core/error.h"

namespace fs = std::filesystem;

namespace plexus::llm {

namespace {

// The shim's C interface (src/spm_shim/spm_shim.cpp), resolved once.
struct SpmApi {
  void* (*load)(const char*, char*, int);
  void (*free_sp)(void*);
  int (*train)(const char*, char*, int);
  int (*encode)(void*, const char*, int**);
  char* (*decode)(void*, const int*, int);
  void (*free_buffer)(void*);
  int (*piece_size)(void*);
  int (*eos_id)(void*);
  int (*bos_id)(void*);
};

const SpmApi& spm() {
  static const SpmApi api = [] {
    std::string path;
    if (const char* env = std::getenv("PLEXUS_SPM_SHIM"); env && *env) path = env;
#ifdef PLEXUS_SPM_SHIM_PATH
    if (path.empty()) path = PLEXUS_SPM_SHIM_PATH;
#endif
    if (path.empty()) path = "libplexus_spm.so";
    // PLEXUS_SPM_DEEPBIND=0 loads without RTLD_DEEPBIND (for LibTorch builds whose protobuf is hidden, where
    // DEEPBIND is not needed); default on.
    const char* deep = std::getenv("PLEXUS_SPM_DEEPBIND");
    const int flags = RTLD_NOW | RTLD_LOCAL | (deep && std::string(deep) == "0" ? 0 : RTLD_DEEPBIND);
    void* h = dlopen(path.c_str(), flags);
    if (!h)
      throw Error::io("cannot load the SentencePiece shim '{}': {} (rebuild plexus or set PLEXUS_SPM_SHIM)", path,
                      dlerror());
    auto sym = [&](const char* name) {
      void* s = dlsym(h, name);
      if (!s) throw Error::io("SentencePiece shim '{}' lacks symbol {}", path, name);
      return s;
    };
    SpmApi a{};
    a.load = reinterpret_cast<decltype(a.load)>(sym("plexus_spm_load"));
    a.free_sp = reinterpret_cast<decltype(a.free_sp)>(sym("plexus_spm_free"));
    a.train = reinterpret_cast<decltype(a.train)>(sym("plexus_spm_train"));
    a.encode = reinterpret_cast<decltype(a.encode)>(sym("plexus_spm_encode"));
    a.decode = reinterpret_cast<decltype(a.decode)>(sym("plexus_spm_decode"));
    a.free_buffer = reinterpret_cast<decltype(a.free_buffer)>(sym("plexus_spm_free_buffer"));
    a.piece_size = reinterpret_cast<decltype(a.piece_size)>(sym("plexus_spm_piece_size"));
    a.eos_id = reinterpret_cast<decltype(a.eos_id)>(sym("plexus_spm_eos_id"));
    a.bos_id = reinterpret_cast<decltype(a.bos_id)>(sym("plexus_spm_bos_id"));
    return a;
  }();
  return api;
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

Tokenizer Tokenizer::load(const fs::path& model) {
  if (!fs::exists(model)) throw Error::io("tokenizer model '{}' not found (train one with `plexus llm tokenizer`)",
                                          model.string());
  char err[512] = {0};
  Tokenizer t;
  void* sp = spm().load(model.string().c_str(), err, sizeof(err));
  if (sp) t.sp_ = std::shared_ptr<void>(sp, [](void* p) { spm().free_sp(p); });
  if (!t.sp_) throw Error::data("'{}' is not a SentencePiece model: {}", model.string(), err);
  if (t.vocab_size() <= 0)
    throw Error::data("SentencePiece loaded '{}' but reports {} pieces (a broken shim load; try PLEXUS_SPM_DEEPBIND=0)",
                      model.string(), t.vocab_size());
  return t;
}

Tokenizer Tokenizer::train(const std::vector<std::string>& lines, const fs::path& prefix, const TokenizerOptions& o) {
  if (o.vocab_size < 8) throw Error::config("[tokenizer] vocab_size = {} must be >= 8", o.vocab_size);
  if (!prefix.parent_path().empty()) fs::create_directories(prefix.parent_path());
  fs::path input = prefix.string() + ".train.txt";
  // spm_train splits --input at commas, and run directories of sweeps have commas in their names
  // ("lr=0.01,seed=0"): the tool runs in the prefix's directory and is given bare file names.
  const std::string name = prefix.filename().string();
  if (name.find_first_of(",'") != std::string::npos)
    throw Error::config("tokenizer file name '{}' may not contain a comma or quote", name);
  const fs::path dir = prefix.parent_path().empty() ? fs::path(".") : prefix.parent_path();
  {
    std::ofstream f(input);
    for (auto& l : lines)
      if (!l.empty()) f << l << "\n";
    if (!f) throw Error::io("cannot write tokenizer training text '{}'", input.string());
  }
  auto args = fmt::format(
      "--input='{}' --model_prefix='{}' --model_type=bpe --vocab_size={} --character_coverage={} "
      "--input_sentence_size={} --shuffle_input_sentence=false --num_threads={} --unk_id=0 --bos_id=1 "
      "--eos_id=2 --pad_id=-1 --hard_vocab_limit=false --max_sentence_length=16384",
      input.filename().string(), name, o.vocab_size, o.character_coverage, o.max_sentences, o.num_threads);
  if (!o.user_defined_symbols.empty()) {
    std::string syms;
    for (auto& u : o.user_defined_symbols) {
      if (u.find_first_of("',") != std::string::npos)
        throw Error::config("[tokenizer] user_defined_symbols: '{}' may not contain a quote or comma", u);
      syms += (syms.empty() ? "" : ",") + u;
    }
    args += fmt::format(" --user_defined_symbols='{}'", syms);
  }
  // Training runs in the `spm_train` tool (Debian package sentencepiece) rather than in-process: the trainer
  // crashes inside a process that also holds LibTorch's libprotobuf, even through the DEEPBIND shim.
  const char* tool_env = std::getenv("PLEXUS_SPM_TRAIN");
  std::string tool = tool_env && *tool_env ? tool_env : "spm_train";
  if (tool.find('/') != std::string::npos) tool = fs::absolute(tool).string();  // it runs in `dir`
  auto cmd = fmt::format("cd '{}' && {} {} > '{}.log' 2>&1", dir.string(), tool, args, name);
  int rc = std::system(cmd.c_str());
  fs::remove(input);
  if (rc != 0)
    throw Error::data("SentencePiece training failed (exit {}; see {}.log: a vocabulary too small or too large "
                      "for the corpus is fixed with tokenizer.vocab_size as the log says; a missing `spm_train` "
                      "(Debian package sentencepiece) is installed by `bash scripts/bootstrap.sh`)",
                      rc, prefix.string());
  return load(prefix.string() + ".model");
}

std::vector<int> Tokenizer::encode(const std::string& text) const {
  int* ids = nullptr;
  int n = spm().encode(sp_.get(), text.c_str(), &ids);
  std::vector<int> v(ids, ids + n);
  spm().free_buffer(ids);
  return v;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  char* s = spm().decode(sp_.get(), ids.data(), static_cast<int>(ids.size()));
  std::string out(s);
  spm().free_buffer(s);
  return out;
}

int64_t Tokenizer::vocab_size() const { return spm().piece_size(sp_.get()); }
int Tokenizer::eos_id() const { return spm().eos_id(sp_.get()); }
int Tokenizer::bos_id() const { return spm().bos_id(sp_.get()); }

}  // namespace plexus::llm
