// .safetensors through the public API (save_state_dict_file / load_state_dict_file and
// Module::save / load): round trips of every dtype, the byte layout the specification
// prescribes, a fixture written by hand from the specification (every dtype xgrad reads),
// and every kind of corrupted file (an xgrad::Error naming the op, the file and the
// problem; run in a child process, so a crash or a hang fails its case).
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <unistd.h>

#include <xgrad.hpp>

#include "support/isolated_process.hpp"
#include "support/temp_dir.hpp"
#include "support/testing.hpp"

using namespace xgrad;
using testing::contains;
using testing::isolated::child_error;

namespace {

namespace fs = std::filesystem;

using TempDir = testing::TempDir;

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// The 8-byte little-endian length field of the format.
std::string length_field(std::uint64_t length) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>(length >> (8 * i));
  return out;
}

// A file as the specification lays it out: length, header text as given, buffer.
std::string safetensors_bytes(const std::string& header, const std::string& buffer) {
  return length_field(header.size()) + header + buffer;
}

// A tensor's values as raw bytes (every xgrad tensor is contiguous).
std::string raw_bytes(const Tensor& tensor) {
  const auto* data = static_cast<const char*>(tensor.impl()->storage->data());
  return std::string(data, static_cast<std::size_t>(tensor.numel()) * element_size(tensor.dtype()));
}

Tensor float32_values(const std::vector<float>& data, const Shape& shape) {
  Tensor t = empty(shape, {.dtype = kFloat32});
  REQUIRE(static_cast<std::size_t>(t.numel()) == data.size());
  std::copy(data.begin(), data.end(), t.data_ptr<float>());
  return t;
}

std::vector<std::string> names_of(const StateDict& state) {
  std::vector<std::string> out;
  for (const auto& entry : state) out.push_back(entry.first);
  return out;
}

// Same names in the same order, same dtypes and shapes, bitwise the same values.
void check_same_state(const StateDict& actual, const StateDict& expected) {
  REQUIRE(names_of(actual) == names_of(expected));
  for (std::size_t i = 0; i < actual.size(); ++i) {
    INFO("entry ", expected[i].first);
    CHECK(actual[i].second.dtype() == expected[i].second.dtype());
    CHECK(actual[i].second.shape() == expected[i].second.shape());
    CHECK(raw_bytes(actual[i].second) == raw_bytes(expected[i].second));
  }
}

}  // namespace

TEST_CASE("safetensors: every xgrad dtype round-trips through save_state_dict_file, in state-dict order") {
  TempDir dir;
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const StateDict state = {
      {"z.last_name_first", float32_values({1.5f, -0.0f, 3e-40f, -7.25f, 1e30f, -1e-30f}, {2, 3})},
      {"weights.f64", testing::from_values({M_PI, -inf, nan, 1e-310}, false)},
      {"counts", testing::int64_values({std::numeric_limits<std::int64_t>::min(), -1, 0, 42,
                                        std::numeric_limits<std::int64_t>::max()})},
      {"mask", testing::bool_values({true, false, true})},
      {"scalar", full({}, 2.5, {.dtype = kFloat64})},
      {"empty", zeros({0, 4}, {.dtype = kFloat32})},
      {"a.first_name_last", arange(24, {.dtype = kInt64}).reshape({2, 3, 4})},
      {"unicode.\xc3\xa9t\xc3\xa9 \"quoted\" \\ back\nslash", ones({1})},
  };
  const std::string path = dir.file("state.safetensors");
  save_state_dict_file(path, state);
  check_same_state(load_state_dict_file(path), state);

  // The extension chooses the format in any case, and an empty state dict is a valid file.
  const std::string upper = dir.file("STATE.SafeTensors");
  CHECK(weight_format_of(upper) == WeightFormat::Safetensors);
  save_state_dict_file(upper, {});
  CHECK(load_state_dict_file(upper).empty());
  CHECK(file_bytes(upper).substr(0, 8) == length_field(file_bytes(upper).size() - 8));
}

TEST_CASE("safetensors: the file is the specification's layout, header padded to 8 bytes as the reference pads it") {
  TempDir dir;
  const std::string path = dir.file("one.safetensors");
  const Tensor values = float32_values({0, 1, 2, 3, 4, 5}, {1, 2, 3});
  save_state_dict_file(path, {{"attn.0", values}});
  // What the specification gives for this entry: compact JSON, entries after the metadata.
  std::string header = R"({"__metadata__":{"format":"pt"},)"
                       R"("attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  const std::size_t unpadded = header.size();
  header.append((8 - header.size() % 8) % 8, ' ');
  CHECK(header.size() % 8 == 0);
  CHECK(header.size() > unpadded);  // this case exercises the padding
  CHECK(file_bytes(path) == safetensors_bytes(header, raw_bytes(values)));

  // Several entries: header keys and byte buffer both in state-dict order, one after another.
  const StateDict state = {{"b", testing::bool_values({true, false, true})},
                           {"a", testing::int64_values({7, 8})},
                           {"c", full({2}, 0.5, {.dtype = kFloat64})}};
  const std::string many = dir.file("many.safetensors");
  save_state_dict_file(many, state);
  const std::string bytes = file_bytes(many);
  std::uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = length << 8 | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  REQUIRE(8 + length <= bytes.size());
  CHECK(length % 8 == 0);
  const std::string text = bytes.substr(8, length);
  CHECK(text.find(R"("b":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]})") != std::string::npos);
  CHECK(text.find(R"("a":{"dtype":"I64","shape":[2],"data_offsets":[3,19]})") != std::string::npos);
  CHECK(text.find(R"("c":{"dtype":"F64","shape":[2],"data_offsets":[19,35]})") != std::string::npos);
  CHECK(text.find("\"b\"") < text.find("\"a\""));
  CHECK(text.find("\"a\"") < text.find("\"c\""));
  const std::string buffer = raw_bytes(state[0].second) + raw_bytes(state[1].second) + raw_bytes(state[2].second);
  CHECK(bytes.substr(8 + length) == buffer);
}

TEST_CASE("safetensors: reads a fixture written by hand from the specification (every dtype, keys out of order)") {
  // tests/fixtures/generate_safetensors.py: F16/BF16 read as float32, I8/I16/I32/U8 as int64,
  // compared bitwise with numpy's own conversions (NaN, -0, subnormals, extremes included).
  const StateDict state = load_state_dict_file(testing::fixture_path("safetensors/spec_dtypes.safetensors"));
  std::ifstream order_file(testing::fixture_path("safetensors/spec_dtypes_order.txt"));
  std::vector<std::string> order;
  for (std::string line; std::getline(order_file, line);) order.push_back(line);
  REQUIRE(order.size() == 12);
  CHECK(names_of(state) == order);  // buffer order, not the header's key order
  for (const auto& [name, tensor] : state) {
    INFO("entry ", name);
    const Tensor expected = testing::load_fixture("safetensors/spec_dtypes_" + name);
    CHECK(tensor.dtype() == expected.dtype());
    CHECK(tensor.shape() == expected.shape());
    CHECK(raw_bytes(tensor) == raw_bytes(expected));
  }
  // A few values spelled out, so a wrong fixture cannot hide a wrong conversion.
  auto find = [&](const std::string& key) {
    for (const auto& entry : state)
      if (entry.first == key) return entry.second;
    FAIL("no entry ", key);
    return Tensor();
  };
  const Tensor half = find("half");
  CHECK(half.dtype() == kFloat32);
  CHECK(half.data_ptr<float>()[4] == 65504.0f);
  CHECK(half.data_ptr<float>()[6] == std::ldexp(1.0f, -24));
  CHECK(std::signbit(half.data_ptr<float>()[1]));
  CHECK(std::isnan(half.data_ptr<float>()[9]));
  CHECK(find("ints").dtype() == kInt64);
  CHECK(find("ints").data_ptr<std::int64_t>()[0] == std::numeric_limits<std::int32_t>::min());
  CHECK(find("bytes_unsigned").data_ptr<std::int64_t>()[3] == 255);
  CHECK(find("bytes_signed").data_ptr<std::int64_t>()[0] == -128);
  CHECK(find("brain").data_ptr<float>()[1] == -3.0f);
}

TEST_CASE("safetensors: a BOOL byte other than 0 reads as true, and the tensor holds 0 and 1") {
  TempDir dir;
  const std::string path = write_bytes(
      dir.file("flags.safetensors"),
      safetensors_bytes(R"({"m":{"dtype":"BOOL","shape":[4],"data_offsets":[0,4]}})",
                        std::string("\x00\x02\x01\xff", 4)));
  const StateDict state = load_state_dict_file(path);
  REQUIRE(state.size() == 1);
  CHECK(raw_bytes(state[0].second) == std::string("\x00\x01\x01\x01", 4));
}

TEST_CASE("safetensors: Module::save and Module::load carry a trained network, buffers included") {
  TempDir dir;
  manual_seed(3);
  auto make_net = [] {
    return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Conv1d>(2, 4, 3), std::make_shared<nn::BatchNorm1d>(4), std::make_shared<nn::ReLU>()});
  };
  auto net = make_net();
  const Tensor input = randn({5, 2, 9});
  (*net)(input);  // training mode: running statistics and num_batches_tracked move
  net->eval();
  const Tensor expected = (*net)(input);
  const std::string path = dir.file("net.safetensors");
  net->save(path);

  auto other = make_net();  // different initial weights
  other->eval();
  CHECK_FALSE(testing::check_close((*other)(input), expected, 0, 0).ok);
  other->load(path);
  check_same_state(other->state_dict(), net->state_dict());
  CHECK_CLOSE((*other)(input), expected, 0, 0);
}

TEST_CASE("safetensors: a refused Module::load leaves the module as it was") {
  TempDir dir;
  nn::Linear linear(3, 2);
  const StateDict before = linear.state_dict();
  std::vector<Tensor> kept;
  for (const auto& entry : before) kept.push_back(entry.second.clone());

  // A valid file whose entry does not fit the module, and a corrupted one.
  const std::string wrong_shape = dir.file("wrong.safetensors");
  save_state_dict_file(wrong_shape, {{"weight", zeros({2, 4})}, {"bias", zeros({2})}});
  CHECK(contains(testing::error_of([&] { linear.load(wrong_shape); }), "'weight' is float32 [2, 4] in the file"));
  const std::string corrupted = write_bytes(dir.file("corrupted.safetensors"),
                                            safetensors_bytes(R"({"weight":{"dtype":"F32"}})", ""));
  const std::string message = testing::error_of([&] { linear.load(corrupted); });
  CHECK(contains(message, "Module::load: '" + corrupted + "'"));
  CHECK(contains(message, "entry 'weight' has no shape"));
  const StateDict after = linear.state_dict();
  for (std::size_t i = 0; i < after.size(); ++i) CHECK(raw_bytes(after[i].second) == raw_bytes(kept[i]));
}

TEST_CASE("safetensors: corrupted headers are errors naming the op, the file and the problem") {
  struct Case {
    const char* name;
    std::string header;
    std::string expected;  // part of the message
  };
  const std::string entry = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  std::string rank65 = "[1";
  for (int i = 0; i < 64; ++i) rank65 += ",1";
  rank65 += "]";
  const std::vector<Case> cases = {
      {"empty header", "", "does not start with '{'"},
      {"leading space", " {\"a\":" + entry + "}", "does not start with '{'"},
      {"array header", "[1]", "does not start with '{'"},
      {"unterminated", "{\"a\":" + entry, "malformed JSON header"},
      {"trailing text", "{\"a\":" + entry + "}x", "malformed JSON header"},
      {"invalid UTF-8", "{\"\xff\":" + entry + "}", "malformed JSON header"},
      {"NUL padding", "{\"a\":" + entry + "}" + std::string(3, '\0'), "malformed JSON header"},
      {"entry is a number", R"({"a":5})", "'a' is the number 5, not an object"},
      {"entry is deeply nested", "{\"a\":" + deep + "}", "'a' is an array, not an object"},
      {"metadata deeply nested", "{\"__metadata__\":{\"k\":" + deep + "}}", "__metadata__ value 'k' is an array"},
      {"metadata number", R"({"__metadata__":{"k":1}})", "__metadata__ value 'k' is the number 1, not a string"},
      {"metadata duplicate", R"({"__metadata__":{"k":"1","k":"2"}})", "__metadata__ has the key 'k' twice"},
      {"duplicate name", "{\"a\":" + entry + ",\"a\":" + entry + "}", "the name 'a' appears twice"},
      {"missing data_offsets", R"({"a":{"dtype":"F32","shape":[2]}})", "entry 'a' has no data_offsets"},
      {"missing dtype", R"({"a":{"shape":[2],"data_offsets":[0,8]}})", "entry 'a' has no dtype"},
      {"unknown field", R"({"a":{"dtype":"F32","shape":[2],"offsets":[0,8]}})", "unknown field 'offsets'"},
      {"duplicate field", R"({"a":{"dtype":"F32","dtype":"F64","shape":[1],"data_offsets":[0,8]}})",
       "entry 'a' has the key 'dtype' twice"},
      {"unsupported dtype", R"({"a":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}})",
       "entry 'a' holds dtype 'U64', which xgrad does not read"},
      {"unknown dtype", R"({"a":{"dtype":"float32","shape":[2],"data_offsets":[0,8]}})", "holds dtype 'float32'"},
      {"dtype number", R"({"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})",
       "entry 'a' has the number 4 as its dtype"},
      {"dtype null", R"({"a":{"dtype":null,"shape":[2],"data_offsets":[0,8]}})", "entry 'a' has null as its dtype"},
      {"shape not array", R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", "the number 2 as its shape"},
      {"negative dimension", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})",
       "entry 'a' has the negative number -2 in its shape"},
      {"fractional dimension", R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})",
       "the number 2.0 (not an integer below 2^64) in its shape"},
      {"dimension of 2^63", R"({"a":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,8]}})",
       "beyond 64-bit sizes"},
      {"dimension of 2^64", R"({"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]}})",
       "not an integer below 2^64"},
      {"nested shape", R"({"a":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}})", "an array in its shape"},
      {"65 dimensions", R"({"a":{"dtype":"F32","shape":)" + rank65 + R"(,"data_offsets":[0,4]}})",
       "more than 64 dimensions"},
      {"element count overflow", R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
       "more elements than 64 bits can count"},
      {"one offset", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8]}})", "entry 'a' has 1 data_offsets"},
      {"three offsets", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}})", "more than two data_offsets"},
      {"negative offset", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})",
       "the negative number -8 in its data_offsets"},
      {"backward offsets", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", "end before they begin"},
      {"size disagrees with shape", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
       "does not fit its data_offsets [0, 8]"},
  };
  TempDir dir;
  for (const Case& c : cases) {
    INFO("case: ", c.name);
    const std::string path =
        write_bytes(dir.file("bad.safetensors"), safetensors_bytes(c.header, std::string(8, '\0')));
    const std::string message = child_error([&] { load_state_dict_file(path); });
    CHECK_MESSAGE(contains(message, "load_state_dict_file: '" + path + "'"), message);
    CHECK_MESSAGE(contains(message, c.expected), message);
  }
}

TEST_CASE("safetensors: offsets that overlap, leave gaps, or disagree with the file's size are errors") {
  struct Case {
    const char* name;
    std::string header;
    std::size_t buffer_bytes;
    std::string expected;
  };
  auto f32 = [](const char* name, int begin, int end) {
    return fmt::format(R"("{}":{{"dtype":"F32","shape":[{}],"data_offsets":[{},{}]}})", name, (end - begin) / 4, begin,
                       end);
  };
  const std::vector<Case> cases = {
      {"overlap", "{" + f32("a", 0, 8) + "," + f32("b", 4, 12) + "}", 12,
       "entries 'a' [0, 8] and 'b' [4, 12] overlap"},
      {"same range twice", "{" + f32("a", 0, 8) + "," + f32("b", 0, 8) + "}", 8, "overlap"},
      {"gap", "{" + f32("a", 0, 4) + "," + f32("b", 8, 12) + "}", 12,
       "bytes [4, 8) of the data buffer belong to no entry"},
      {"not from zero", "{" + f32("a", 4, 12) + "}", 12, "bytes [0, 4) of the data buffer belong to no entry"},
      {"trailing bytes", "{" + f32("a", 0, 8) + "}", 12,
       "its entries cover 8 bytes of data but 12 bytes follow the header"},
      {"no entries, some bytes", "{}", 4, "its entries cover 0 bytes of data but 4 bytes follow the header"},
      {"truncated data", "{" + f32("a", 0, 8) + "," + f32("b", 8, 16) + "}", 12,
       "is truncated: entry 'b' ends at byte 16 of the data buffer, which has 12 bytes"},
  };
  TempDir dir;
  for (const Case& c : cases) {
    INFO("case: ", c.name);
    const std::string path = write_bytes(dir.file("bad.safetensors"),
                                         safetensors_bytes(c.header, std::string(c.buffer_bytes, '\x01')));
    const std::string message = child_error([&] { load_state_dict_file(path); });
    CHECK_MESSAGE(contains(message, "load_state_dict_file: '" + path + "'"), message);
    CHECK_MESSAGE(contains(message, c.expected), message);
  }
}

TEST_CASE("safetensors: a header length beyond the file or the format's limit is refused before allocating") {
  TempDir dir;
  SUBCASE("shorter than the length field") {
    const std::string path = write_bytes(dir.file("short.safetensors"), "\x10\x00\x00");
    CHECK(contains(child_error([&] { load_state_dict_file(path); }), "shorter than the 8-byte header length"));
  }
  SUBCASE("a length past the end of the file") {
    const std::string path = write_bytes(dir.file("past.safetensors"), length_field(1000) + "{}      ");
    CHECK(contains(child_error([&] { load_state_dict_file(path); }), "its header length is 1000 bytes"));
  }
  SUBCASE("a length of 2^64 - 1") {
    const std::string path = write_bytes(dir.file("huge.safetensors"), std::string(8, '\xff') + "{}");
    CHECK(contains(child_error([&] { load_state_dict_file(path); }), "cannot hold it"));
  }
  SUBCASE("a header over 100 MB, in a (sparse) file that holds it") {
    const std::uint64_t length = 100'000'001;
    const std::string path = write_bytes(dir.file("limit.safetensors"), length_field(length) + "{");
    fs::resize_file(path, 8 + length);
    CHECK(contains(child_error([&] { load_state_dict_file(path); }), "more than the 100000000 the format allows"));
  }
  SUBCASE("not a regular file") {
    CHECK(contains(child_error([&] { load_state_dict_file(dir.file("")); }), "load_state_dict_file"));
  }
}

TEST_CASE("safetensors: refused saves name the entry and leave the previous file") {
  TempDir dir;
  const std::string path = dir.file("keep.safetensors");
  const StateDict good = {{"w", ones({2})}};
  save_state_dict_file(path, good);
  const std::string before = file_bytes(path);
  struct Case {
    const char* name;
    StateDict state;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"duplicate", {{"w", ones({1})}, {"w", ones({1})}}, "entry 'w' appears twice"},
      {"metadata key", {{"__metadata__", ones({1})}}, "cannot be called '__metadata__'"},
      {"invalid UTF-8", {{"bad\xff", ones({1})}}, "is not valid UTF-8"},
      {"undefined", {{"u", Tensor()}}, "entry 'u' is an undefined tensor"},
      {"65 dimensions", {{"r", zeros(Shape(65, 1))}}, "entry 'r' has 65 dimensions, more than the 64"},
  };
  for (const Case& c : cases) {
    INFO("case: ", c.name);
    const std::string message = testing::error_of([&] { save_state_dict_file(path, c.state); });
    CHECK_MESSAGE(contains(message, "save_state_dict_file: '" + path + "'"), message);
    CHECK_MESSAGE(contains(message, c.expected), message);
    CHECK(file_bytes(path) == before);
  }
  check_same_state(load_state_dict_file(path), good);
}
