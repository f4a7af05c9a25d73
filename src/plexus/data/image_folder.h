// Image folders in the torchvision ImageFolder layout, the layout of Tiny-ImageNet and of most users' data:
//   <root>/train/<class>/**/<image>    and    <root>/test/<class>/**/<image>   (or <root>/val/...)
// Classes are the sorted names of the train/ subfolders (label = rank, as torchvision); test/ class folders must
// be among them. Tiny-ImageNet's val/ (val/images/*.JPEG + val/val_annotations.txt "file<TAB>class...") is read
// too. Images are found recursively, sorted by path; files are chosen by extension like torchvision
// (.png .jpg .jpeg .bmp .gif .tga .ppm .pgm, any case), other files (e.g. Tiny-ImageNet's *_boxes.txt) are skipped
// and counted; hidden files are ignored. Decoding: stb_image (Debian libstb-dev), forced to `channels` channels
// (3 = RGB, as torchvision's default loader; 1 = grey). With `size` > 0 every image is resized to size×size
// (bilinear with antialiasing, as torchvision's Resize on tensors); with size = 0 all images must share one size.
// The root is: [data] path, else $PLEXUS_IMAGE_FOLDER, else data/images. Pixels are returned on the [0,1] scale.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "plexus/data/dataset.h"

namespace plexus::data {

constexpr const char* kImageFolderEnv = "PLEXUS_IMAGE_FOLDER";
constexpr const char* kImageFolderDefaultDir = "data/images";

/// Decode one image file with stb_image into [channels, H, W] f32 on the [0,1] scale.
/// Throws: Error(Data) naming the file if it is not a decodable image (stb_image's reason included).
torch::Tensor decode_image(const std::filesystem::path& file, int channels);

/// Read labelled images: files[j] has label labels[j]. With size > 0 each is resized to size×size.
/// Shapes: → x [n, channels, H, W] f32 in [0,1], y [n] i64. Decodes on all cores (at::parallel_for); the result
/// does not depend on the thread count.
/// Throws: Error(Data) on an undecodable file or (size = 0) images of different sizes, naming both files and the
/// fix (set data.image_size).
Dataset read_images(const std::vector<std::filesystem::path>& files, const std::vector<int64_t>& labels,
                    int64_t num_classes, int channels, int64_t size, const std::string& name);

/// Load <root>/train and <root>/test (or val) as above. `classes_out` (optional) receives the class names.
/// Throws: Error(Data) if the root, train/ or test/ is missing (saying which layout is expected), a class folder
/// holds no image, a test class is not a train class, or as read_images.
TrainTest load_image_folder(const std::string& root, int channels, int64_t size,
                            std::vector<std::string>* classes_out = nullptr);

}  // namespace plexus::data
