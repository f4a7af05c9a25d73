// plexus_spm: a tiny C interface over SentencePiece, built as its own shared library and loaded by
// src/plexus/llm/tokenizer.cpp with dlopen(RTLD_DEEPBIND).
//
// Why: Debian's libsentencepiece embeds a static copy of protobuf-lite and exports its symbols, while
// Debian's LibTorch loads the full libprotobuf.so.32. Linked into one executable, the two collide during
// static initialization (segfault in protobuf::Message::FindInitializationErrors before main). Loading
// SentencePiece through this shim with RTLD_DEEPBIND makes it bind its own protobuf copy first.
//
// That is not enough next to PyTorch 2.x's LibTorch (which exports its own protobuf): there Debian's shared
// library loads an empty model ("[libprotobuf FATAL … repeated_field.h] CHECK failed") with or without DEEPBIND.
// For such machines CMake's PLEXUS_SPM_STATIC_DIR links a static SentencePiece with its builtin protobuf-lite
// (bench/spm_static.sh: -fPIC, hidden visibility) into this shim with --exclude-libs,ALL, so the shim exports
// only the plexus_spm_* functions below and no protobuf symbol can be interposed (docs/grpo.md, GPU recipe).
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {
void set_error(char* err, int len, const std::string& msg) {
  if (err && len > 0) {
    std::strncpy(err, msg.c_str(), static_cast<std::size_t>(len) - 1);
    err[len - 1] = '\0';
  }
}
}  // namespace

extern "C" {

void* plexus_spm_load(const char* path, char* err, int err_len) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  auto st = sp->Load(path);
  if (!st.ok()) {
    set_error(err, err_len, st.ToString());
    delete sp;
    return nullptr;
  }
  return sp;
}

void plexus_spm_free(void* sp) { delete static_cast<sentencepiece::SentencePieceProcessor*>(sp); }

int plexus_spm_train(const char* args, char* err, int err_len) {
  auto st = sentencepiece::SentencePieceTrainer::Train(args);
  if (!st.ok()) {
    set_error(err, err_len, st.ToString());
    return 1;
  }
  return 0;
}

// Encode `text`; *ids is malloc'ed (free with plexus_spm_free_buffer). Returns the count.
int plexus_spm_encode(void* sp, const char* text, int** ids) {
  std::vector<int> out;
  static_cast<sentencepiece::SentencePieceProcessor*>(sp)->Encode(text, &out);
  *ids = static_cast<int*>(std::malloc(sizeof(int) * (out.size() + 1)));
  std::memcpy(*ids, out.data(), sizeof(int) * out.size());
  return static_cast<int>(out.size());
}

// Decode `n` ids; returns a malloc'ed NUL-terminated string (free with plexus_spm_free_buffer).
char* plexus_spm_decode(void* sp, const int* ids, int n) {
  std::string s;
  static_cast<sentencepiece::SentencePieceProcessor*>(sp)->Decode(std::vector<int>(ids, ids + n), &s);
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

void plexus_spm_free_buffer(void* p) { std::free(p); }
int plexus_spm_piece_size(void* sp) { return static_cast<sentencepiece::SentencePieceProcessor*>(sp)->GetPieceSize(); }
int plexus_spm_eos_id(void* sp) { return static_cast<sentencepiece::SentencePieceProcessor*>(sp)->eos_id(); }
int plexus_spm_bos_id(void* sp) { return static_cast<sentencepiece::SentencePieceProcessor*>(sp)->bos_id(); }

}  // extern "C"
