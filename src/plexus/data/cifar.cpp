#include "plexus/data/cifar.h"

#include <cstdio>
#include <memory>

#include "plexus/core/error.h"

namespace plexus::data {

namespace fs = std::filesystem;

Dataset read_cifar_records(const std::vector<fs::path>& files, int label_bytes, int label_index,
                           int64_t num_classes, const std::string& name) {
  PLEXUS_CHECK(label_bytes >= 1 && label_index >= 0 && label_index < label_bytes, "bad CIFAR label layout");
  const int64_t record = label_bytes + kCifarPixels;
  // Sizes first, so x is allocated once and each file is converted straight into its slice.
  std::vector<int64_t> counts;
  int64_t n = 0;
  for (const auto& f : files) {
    std::error_code ec;
    const auto size = static_cast<int64_t>(fs::file_size(f, ec));
    if (ec) throw Error::io("{}: cannot read ({})", f.string(), ec.message());
    if (size == 0) throw Error::data("{}: the file is empty; expected CIFAR records of {} bytes", f.string(), record);
    if (size % record != 0) {
      throw Error::data("{}: {} bytes is not a whole number of {}-byte CIFAR records (the last record is cut after "
                        "{} bytes); the file is truncated or not a CIFAR-{} binary file, re-download it",
                        f.string(), size, record, size % record, label_bytes == 1 ? "10" : "100");
    }
    counts.push_back(size / record);
    n += size / record;
  }
  Dataset d;
  d.x = torch::empty({n, 3, kCifarSide, kCifarSide}, torch::kFloat);
  d.y = torch::empty({n}, torch::kLong);
  auto xf = d.x.view({n, kCifarPixels});
  int64_t at = 0;
  for (size_t k = 0; k < files.size(); ++k) {
    auto bytes = read_file_bytes(files[k]);
    const int64_t m = counts[k];
    if (static_cast<int64_t>(bytes.size()) != m * record) {
      throw Error::data("{}: the file changed size while being read", files[k].string());
    }
    auto* yp = d.y.data_ptr<int64_t>() + at;
    for (int64_t j = 0; j < m; ++j) {
      const int64_t label = bytes[static_cast<size_t>(j * record + label_index)];
      if (label >= num_classes) {
        throw Error::data("{}: record {} has label {}, outside [0, {}); the file is corrupt or belongs to another "
                          "CIFAR variant (CIFAR-10 records are 3073 bytes, CIFAR-100 3074)",
                          files[k].string(), j, label, num_classes);
      }
      yp[j] = label;
    }
    // The pixels of record j start at j·record + label_bytes: a strided view, converted in one copy.
    auto px = torch::from_blob(bytes.data() + label_bytes, {m, kCifarPixels}, {record, 1}, torch::kUInt8);
    xf.narrow(0, at, m).copy_(px);
    at += m;
  }
  d.x.div_(255.0);
  d.num_classes = num_classes;
  d.name = name;
  return d;
}

void write_cifar_records(const fs::path& file, const std::vector<uint8_t>& labels, const std::vector<uint8_t>& pixels,
                         int label_bytes) {
  const size_t n = pixels.size() / static_cast<size_t>(kCifarPixels);
  PLEXUS_CHECK(pixels.size() == n * kCifarPixels && labels.size() == n * static_cast<size_t>(label_bytes),
               "write_cifar_records: {} pixel bytes and {} label bytes do not make whole records", pixels.size(),
               labels.size());
  struct Closer {
    void operator()(FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<FILE, Closer> f(std::fopen(file.c_str(), "wb"));
  if (!f) throw Error::io("{}: cannot open for writing", file.string());
  for (size_t j = 0; j < n; ++j) {
    if (std::fwrite(labels.data() + j * label_bytes, 1, static_cast<size_t>(label_bytes), f.get()) !=
            static_cast<size_t>(label_bytes) ||
        std::fwrite(pixels.data() + j * kCifarPixels, 1, kCifarPixels, f.get()) != kCifarPixels) {
      throw Error::io("{}: write failed", file.string());
    }
  }
  if (std::fclose(f.release()) != 0) throw Error::io("{}: write failed on close", file.string());
}

TrainTest load_cifar(int classes, bool coarse, const std::string& dir_in) {
  PLEXUS_CHECK(classes == 10 || classes == 100, "CIFAR has 10 or 100 classes, not {}", classes);
  const bool c10 = classes == 10;
  const char* folder = c10 ? "cifar-10-batches-bin" : "cifar-100-binary";
  const char* url = c10 ? "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
                        : "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz";
  std::string source;
  fs::path dir = resolve_data_path(dir_in, c10 ? kCifar10Env : kCifar100Env,
                                   c10 ? kCifar10DefaultDir : kCifar100DefaultDir, &source);
  std::error_code ec;
  if (fs::is_directory(dir / folder, ec)) dir /= folder;  // the parent of the extracted folder works too
  std::vector<fs::path> train, test;
  if (c10) {
    for (int b = 1; b <= 5; ++b) train.push_back(dir / fmt::format("data_batch_{}.bin", b));
    test.push_back(dir / "test_batch.bin");
  } else {
    train.push_back(dir / "train.bin");
    test.push_back(dir / "test.bin");
  }
  for (const auto* list : {&train, &test}) {
    for (const auto& f : *list) {
      if (!fs::is_regular_file(f, ec)) {
        throw Error::data("CIFAR-{} not found: no {} in {} ({}); download the binary version {} (published at "
                          "https://www.cs.toronto.edu/~kriz/cifar.html), extract it (tar xzf) and point [data] path "
                          "(--path) or ${} at the {} folder",
                          classes, f.filename().string(), dir.string(), source, url,
                          c10 ? kCifar10Env : kCifar100Env, folder);
      }
    }
  }
  const int label_bytes = c10 ? 1 : 2, label_index = c10 ? 0 : (coarse ? 0 : 1);
  const int64_t num_classes = c10 ? 10 : (coarse ? 20 : 100);
  const std::string base = c10 ? "cifar10" : (coarse ? "cifar100_coarse" : "cifar100");
  TrainTest tt;
  tt.train = read_cifar_records(train, label_bytes, label_index, num_classes, base + "/train");
  tt.test = read_cifar_records(test, label_bytes, label_index, num_classes, base + "/test");
  return tt;
}

}  // namespace plexus::data
