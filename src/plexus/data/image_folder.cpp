#include "plexus/data/image_folder.h"

#include <ATen/Parallel.h>

#if PLEXUS_HAVE_STB
// stb_image is compiled here (header-only use of Debian's libstb-dev); its own code is not held to our warnings.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>
#pragma GCC diagnostic pop
#endif

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include "plexus/core/error.h"
#include "plexus/core/log.h"

namespace plexus::data {

namespace fs = std::filesystem;

namespace {

bool is_image_name(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* ok : {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga", ".ppm", ".pgm"}) {
    if (e == ok) return true;
  }
  return false;
}

bool hidden(const fs::path& p) { return !p.filename().empty() && p.filename().string()[0] == '.'; }

// Image files under `dir` (recursive, sorted); counts the skipped non-image files.
std::vector<fs::path> images_under(const fs::path& dir, int64_t& skipped, fs::path& example) {
  std::vector<fs::path> out;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink);
       it != fs::recursive_directory_iterator(); ++it) {
    if (hidden(it->path())) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    if (is_image_name(it->path())) {
      out.push_back(it->path());
    } else {
      if (skipped++ == 0) example = it->path();
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> class_dirs(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_directory() && !hidden(e.path())) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

struct Listing {
  std::vector<fs::path> files;
  std::vector<int64_t> labels;
};

// <split>/<class>/**: every class must be known and hold at least one image.
Listing list_split(const fs::path& split, const std::map<std::string, int64_t>& index, int64_t& skipped,
                   fs::path& example) {
  Listing l;
  for (const auto& cls : class_dirs(split)) {
    auto it = index.find(cls);
    if (it == index.end()) {
      throw Error::data("{}: class folder '{}' does not exist in the training folder; test classes must be training "
                        "classes",
                        split.string(), cls);
    }
    auto files = images_under(split / cls, skipped, example);
    if (files.empty()) {
      throw Error::data("{}: class folder holds no image (.png, .jpg, .jpeg, .bmp, .gif, .tga, .ppm, .pgm)",
                        (split / cls).string());
    }
    for (auto& f : files) l.files.push_back(std::move(f)), l.labels.push_back(it->second);
  }
  return l;
}

// Tiny-ImageNet's val/: images/ plus val_annotations.txt mapping file → class (tab-separated).
Listing list_annotated(const fs::path& split, const std::map<std::string, int64_t>& index) {
  Listing l;
  std::ifstream in(split / "val_annotations.txt");
  std::string line;
  int64_t row = 0;
  while (std::getline(in, line)) {
    ++row;
    if (line.empty()) continue;
    std::istringstream ss(line);
    std::string file, cls;
    std::getline(ss, file, '\t');
    std::getline(ss, cls, '\t');
    auto it = index.find(cls);
    if (it == index.end()) {
      throw Error::data("{}/val_annotations.txt row {}: class '{}' is not a training class", split.string(), row, cls);
    }
    l.files.push_back(split / "images" / file);
    l.labels.push_back(it->second);
  }
  return l;
}

}  // namespace

torch::Tensor decode_image(const fs::path& file, int channels) {
#if !PLEXUS_HAVE_STB
  throw Error::config("{}: this plexus was built without stb_image; install Debian's libstb-dev "
                      "(scripts/bootstrap.sh) and rebuild to read image folders",
                      file.string());
#else
  int w = 0, h = 0, n = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load(file.c_str(), &w, &h, &n, channels), stbi_image_free);
  if (!px) {
    throw Error::data("{}: not a readable image ({}); remove it from the class folder or replace it",
                      file.string(), stbi_failure_reason() ? stbi_failure_reason() : "unknown reason");
  }
  // stb gives rows of interleaved channels [H, W, C]; the models take [C, H, W].
  return torch::from_blob(px.get(), {h, w, channels}, torch::kUInt8).permute({2, 0, 1}).to(torch::kFloat).div_(255.0);
#endif
}

Dataset read_images(const std::vector<fs::path>& files, const std::vector<int64_t>& labels, int64_t num_classes,
                    int channels, int64_t size, const std::string& name) {
  PLEXUS_CHECK(files.size() == labels.size(), "{} files but {} labels", files.size(), labels.size());
  PLEXUS_CHECK(channels == 1 || channels == 3, "channels must be 1 or 3, got {}", channels);
  const int64_t n = static_cast<int64_t>(files.size());
  if (n == 0) throw Error::data("{}: no images", name);
  auto fit = [&](torch::Tensor img) {
    if (size <= 0 || (img.size(1) == size && img.size(2) == size)) return img;
    namespace F = torch::nn::functional;
    auto opts = F::InterpolateFuncOptions()
                    .size(std::vector<int64_t>{size, size})
                    .mode(torch::kBilinear)
                    .align_corners(false)
                    .antialias(true);
    return F::interpolate(img.unsqueeze(0), opts).squeeze(0).clamp_(0.0, 1.0);
  };
  const auto first = fit(decode_image(files[0], channels));
  const int64_t H = first.size(1), W = first.size(2);
  Dataset d;
  d.x = torch::empty({n, channels, H, W}, torch::kFloat);
  d.x[0].copy_(first);
  std::mutex mu;
  int64_t bad = -1;  // the smallest index that failed (so the message does not depend on the thread count)
  std::string bad_msg;
  at::parallel_for(1, n, 16, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) {
      std::string msg;
      try {
        auto img = fit(decode_image(files[static_cast<size_t>(j)], channels));
        if (img.size(1) != H || img.size(2) != W) {
          msg = fmt::format("mixed image sizes: {} is {}x{} but {} is {}x{}; set data.image_size to resize every "
                            "image to one size",
                            files[static_cast<size_t>(j)].string(), img.size(2), img.size(1), files[0].string(), W, H);
        } else {
          d.x[j].copy_(img);
        }
      } catch (const Error& err) {
        msg = err.what();
      }
      if (!msg.empty()) {
        std::lock_guard<std::mutex> lock(mu);
        if (bad < 0 || j < bad) bad = j, bad_msg = msg;
      }
    }
  });
  if (bad >= 0) throw Error::data("{}", bad_msg);
  d.y = torch::tensor(labels, torch::kLong);
  d.num_classes = num_classes;
  d.name = name;
  return d;
}

TrainTest load_image_folder(const std::string& root_in, int channels, int64_t size,
                            std::vector<std::string>* classes_out) {
  std::string source;
  const fs::path root = resolve_data_path(root_in, kImageFolderEnv, kImageFolderDefaultDir, &source);
  std::error_code ec;
  const fs::path train = root / "train";
  fs::path test = root / "test";
  if (!fs::is_directory(test, ec)) test = root / "val";
  if (!fs::is_directory(train, ec) || !fs::is_directory(test, ec)) {
    throw Error::data("image folder not found: {} ({}) needs train/<class>/<images> and test/<class>/<images> (or "
                      "val/) folders, the torchvision ImageFolder layout (Tiny-ImageNet: unzip tiny-imagenet-200.zip "
                      "from http://cs231n.stanford.edu/tiny-imagenet-200.zip and point [data] path at it)",
                      root.string(), source);
  }
  const auto classes = class_dirs(train);
  if (classes.empty()) throw Error::data("{}: no class folders (expected train/<class>/<images>)", train.string());
  std::map<std::string, int64_t> index;
  for (size_t c = 0; c < classes.size(); ++c) index[classes[c]] = static_cast<int64_t>(c);
  int64_t skipped = 0;
  fs::path example;
  Listing tr = list_split(train, index, skipped, example);
  Listing te = fs::is_regular_file(test / "val_annotations.txt", ec) ? list_annotated(test, index)
                                                                     : list_split(test, index, skipped, example);
  if (te.files.empty()) throw Error::data("{}: no test images", test.string());
  if (skipped > 0) {
    log_info("data: image folder {}: skipped {} files without an image extension (e.g. {})", root.string(), skipped,
             example.string());
  }
  const auto C = static_cast<int64_t>(classes.size());
  TrainTest tt;
  tt.train = read_images(tr.files, tr.labels, C, channels, size, "image_folder/train");
  tt.test = read_images(te.files, te.labels, C, channels, size, "image_folder/test");
  if (tt.train.x.sizes().slice(2) != tt.test.x.sizes().slice(2)) {
    throw Error::data("{}: train images are {} but test images are {}; set data.image_size to resize both",
                      root.string(), shape_text(tt.train.x), shape_text(tt.test.x));
  }
  if (classes_out) *classes_out = classes;
  return tt;
}

}  // namespace plexus::data
