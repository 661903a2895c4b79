// .pt / .pth: the zip files of torch.save(model.state_dict()) (PyTorch >= 1.6).
//
//   <folder>/data.pkl       the state dict, pickled (protocol 2); tensors refer to storages
//                           by persistent id ('storage', torch.FloatStorage, key, location, numel)
//   <folder>/data/<key>     each storage's raw elements
//   <folder>/byteorder      "little" or "big" (absent: little)
//   <folder>/version        "3\n"
//
// Reading is weights-only, like torch.load(weights_only=True): the unpickler below is
// a small stack machine that knows the opcodes torch.save emits and three kinds of
// global (collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter
// and the torch.*Storage types). It calls nothing: every other global or opcode is an
// xgrad::Error naming it, so a .pt file can never run code. Values nest at most
// kMaxDepth deep and a container stops changing once placed in another one (no cycles,
// no deep recursion when they are freed); every size is checked against the archive
// before anything is allocated.
#include <memory>
#include <unordered_map>

#include "core/error.hpp"
#include "core/file_io.hpp"
#include "core/serialization/formats.hpp"
#include "core/serialization/npy_format.hpp"
#include "core/serialization/zip_archive.hpp"
#include "core/shape.hpp"

namespace xgrad::detail {

namespace {

// Pickle opcodes (Python's Lib/pickle.py names).
enum Opcode : unsigned char {
  MARK = '(',
  STOP = '.',
  BININT = 'J',
  BININT1 = 'K',
  BININT2 = 'M',
  NONE = 'N',
  BINPERSID = 'Q',
  REDUCE = 'R',
  BINUNICODE = 'X',
  EMPTY_LIST = ']',
  BUILD = 'b',
  GLOBAL = 'c',
  BINGET = 'h',
  LONG_BINGET = 'j',
  BINPUT = 'q',
  LONG_BINPUT = 'r',
  SETITEM = 's',
  TUPLE = 't',
  SETITEMS = 'u',
  EMPTY_DICT = '}',
  EMPTY_TUPLE = ')',
  PROTO = 0x80,
  TUPLE1 = 0x85,
  TUPLE2 = 0x86,
  TUPLE3 = 0x87,
  NEWTRUE = 0x88,
  NEWFALSE = 0x89,
  LONG1 = 0x8a,
  SHORT_BINUNICODE = 0x8c,
  STACK_GLOBAL = 0x93,
  MEMOIZE = 0x94,
  FRAME = 0x95,
};

// A state dict's values nest 4 deep (_metadata: dict of dicts of ints); this is ample.
constexpr int kMaxDepth = 32;

enum class Kind { None, Bool, Int, String, Tuple, Dict, Global, Storage, Tensor };

constexpr std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return "a bool";
    case Kind::Int: return "an int";
    case Kind::String: return "a string";
    case Kind::Tuple: return "a tuple";
    case Kind::Dict: return "a dict";
    case Kind::Global: return "a global";
    case Kind::Storage: return "a storage";
    case Kind::Tensor: return "a tensor";
  }
  return "a value";
}

enum class Callable { OrderedDict, RebuildTensor, RebuildParameter, Storage };

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct TensorView {
  std::string storage_key;
  StoredType type;
  std::int64_t offset = 0;
  Shape shape;
  std::vector<std::int64_t> strides;
};

struct Value {
  Kind kind = Kind::None;
  int depth = 1;
  bool frozen = false;  // placed inside another value: never changes again
  std::int64_t integer = 0;  // Bool and Int
  std::string text;          // String; a Global's dotted name; a Storage's key
  std::vector<ValuePtr> items;                            // Tuple
  std::vector<std::pair<std::string, ValuePtr>> entries;  // Dict, in insertion order
  std::unordered_map<std::string, std::size_t> positions;
  Callable callable = Callable::OrderedDict;  // Global
  StoredType type;                            // a storage Global; Storage
  std::int64_t numel = 0;                     // Storage
  TensorView tensor;                          // Tensor
};

ValuePtr make_value(Kind kind) {
  auto value = std::make_shared<Value>();
  value->kind = kind;
  return value;
}

struct StorageInfo {
  StoredType type;
  std::int64_t numel = 0;
};

// The storage types torch.save names, and what xgrad reads each into.
std::optional<StoredType> storage_type(std::string_view name) {
  if (name == "FloatStorage") return StoredType{.kind = 'f', .size = 4, .dtype = kFloat32};
  if (name == "DoubleStorage") return StoredType{.kind = 'f', .size = 8, .dtype = kFloat64};
  if (name == "HalfStorage") return StoredType{.kind = 'f', .size = 2, .dtype = kFloat32};
  if (name == "LongStorage") return StoredType{.kind = 'i', .size = 8, .dtype = kInt64};
  if (name == "IntStorage") return StoredType{.kind = 'i', .size = 4, .dtype = kInt64};
  if (name == "ShortStorage") return StoredType{.kind = 'i', .size = 2, .dtype = kInt64};
  if (name == "CharStorage") return StoredType{.kind = 'i', .size = 1, .dtype = kInt64};
  if (name == "ByteStorage") return StoredType{.kind = 'u', .size = 1, .dtype = kInt64};
  if (name == "BoolStorage") return StoredType{.kind = 'b', .size = 1, .dtype = kBool};
  return std::nullopt;
}

// The restricted unpickler. Runs `pickle` to its STOP and returns the top-level dict.
class Unpickler {
 public:
  Unpickler(std::string_view pickle, std::string where) : pickle_(pickle), where_(std::move(where)) {}

  ValuePtr run();
  const std::unordered_map<std::string, StorageInfo>& storages() const { return storages_; }

 private:
  [[noreturn]] void refuse(std::string_view what) const {
    fail("{}: data.pkl byte {}: {}", where_, opcode_at_, what);
  }
  std::string_view take(std::size_t size) {
    if (pickle_.size() - position_ < size) refuse(fmt::format("the pickle ends inside an opcode argument"));
    const std::string_view bytes = pickle_.substr(position_, size);
    position_ += size;
    return bytes;
  }
  std::uint64_t take_unsigned(std::size_t size) {
    const std::string_view bytes = take(size);
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < size; ++i) value |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
    return value;
  }
  std::string_view take_line() {
    const std::size_t end = pickle_.find('\n', position_);
    if (end == std::string_view::npos || end - position_ > 256) refuse("a GLOBAL opcode without a valid name");
    const std::size_t length = end - position_;
    return take(length + 1).substr(0, length);
  }
  void push(ValuePtr value) { stack_.push_back(std::move(value)); }
  ValuePtr pop() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) refuse("an opcode needs a value the stack does not hold");
    ValuePtr value = std::move(stack_.back());
    stack_.pop_back();
    return value;
  }
  ValuePtr& top() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) refuse("an opcode needs a value the stack does not hold");
    return stack_.back();
  }
  // The values pushed since the last MARK, which is removed.
  std::vector<ValuePtr> pop_mark() {
    if (marks_.empty()) refuse("an opcode needs a MARK the stack does not hold");
    const std::size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(mark)),
                                std::make_move_iterator(stack_.end()));
    stack_.resize(mark);
    return items;
  }
  ValuePtr make_tuple(std::vector<ValuePtr> items) {
    ValuePtr tuple = make_value(Kind::Tuple);
    for (const ValuePtr& item : items) adopt(*tuple, *item);
    tuple->items = std::move(items);
    return tuple;
  }
  // `child` becomes part of `parent`: it stops changing, and parent's depth grows.
  void adopt(Value& parent, Value& child) {
    child.frozen = true;
    parent.depth = std::max(parent.depth, child.depth + 1);
    if (parent.depth > kMaxDepth) refuse(fmt::format("values nest more than {} deep", kMaxDepth));
  }
  void set_item(const ValuePtr& dict, ValuePtr key, ValuePtr value) {
    adopt(*dict, *key);
    adopt(*dict, *value);  // before the check below: a dict set into itself is frozen by now
    if (dict->kind != Kind::Dict) refuse(fmt::format("SETITEM on {}, not a dict", kind_name(dict->kind)));
    if (dict->frozen) refuse("SETITEM on a dict that is already part of another value");
    if (key->kind != Kind::String) refuse(fmt::format("a dict key is {}, not a string", kind_name(key->kind)));
    const auto [found, inserted] = dict->positions.try_emplace(key->text, dict->entries.size());
    if (inserted) {
      dict->entries.emplace_back(key->text, std::move(value));
    } else {
      dict->entries[found->second].second = std::move(value);
    }
  }
  ValuePtr global(std::string_view module, std::string_view name);
  ValuePtr reduce(const ValuePtr& callable, const ValuePtr& arguments);
  ValuePtr persistent_load(const ValuePtr& id);
  std::int64_t int_of(const ValuePtr& value, std::string_view what) {
    if (value->kind != Kind::Int) refuse(fmt::format("{} is {}, not an int", what, kind_name(value->kind)));
    return value->integer;
  }
  std::vector<std::int64_t> ints_of(const ValuePtr& value, std::string_view what) {
    if (value->kind != Kind::Tuple) refuse(fmt::format("{} is {}, not a tuple", what, kind_name(value->kind)));
    if (value->items.size() > 64) refuse(fmt::format("{} has {} dimensions, more than 64", what, value->items.size()));
    std::vector<std::int64_t> ints;
    for (const ValuePtr& item : value->items) ints.push_back(int_of(item, what));
    return ints;
  }

  std::string_view pickle_;
  std::string where_;
  std::size_t position_ = 0, opcode_at_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, ValuePtr> memo_;
  std::unordered_map<std::string, StorageInfo> storages_;
};

ValuePtr Unpickler::global(std::string_view module, std::string_view name) {
  ValuePtr value = make_value(Kind::Global);
  value->text = fmt::format("{}.{}", module, name);
  if (module == "collections" && name == "OrderedDict") {
    value->callable = Callable::OrderedDict;
  } else if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
    value->callable = Callable::RebuildTensor;
  } else if (module == "torch._utils" && name == "_rebuild_parameter") {
    value->callable = Callable::RebuildParameter;
  } else if (const auto type = module == "torch" ? storage_type(name) : std::nullopt) {
    value->callable = Callable::Storage;
    value->type = *type;
  } else {
    refuse(fmt::format("refusing global '{}': a weights-only load accepts only collections.OrderedDict, "
                       "torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter and torch storage types",
                       value->text));
  }
  return value;
}

ValuePtr Unpickler::reduce(const ValuePtr& callable, const ValuePtr& arguments) {
  if (callable->kind != Kind::Global) refuse(fmt::format("REDUCE calls {}, not a global", kind_name(callable->kind)));
  if (arguments->kind != Kind::Tuple) refuse(fmt::format("REDUCE arguments are {}, not a tuple", kind_name(arguments->kind)));
  const std::vector<ValuePtr>& args = arguments->items;
  switch (callable->callable) {
    case Callable::OrderedDict:
      if (!args.empty()) refuse("collections.OrderedDict called with arguments");
      return make_value(Kind::Dict);
    case Callable::RebuildParameter: {
      // _rebuild_parameter(data, requires_grad, backward_hooks): the tensor itself.
      if (args.size() != 3 || args[0]->kind != Kind::Tensor) refuse("torch._utils._rebuild_parameter with other arguments than (tensor, requires_grad, hooks)");
      return args[0];
    }
    case Callable::RebuildTensor: {
      // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (args.size() != 6 && args.size() != 7) {
        refuse(fmt::format("torch._utils._rebuild_tensor_v2 with {} arguments (expected 6 or 7)", args.size()));
      }
      if (args[0]->kind != Kind::Storage) refuse(fmt::format("a tensor's storage is {}", kind_name(args[0]->kind)));
      ValuePtr tensor = make_value(Kind::Tensor);
      TensorView& view = tensor->tensor;
      view.storage_key = args[0]->text;
      view.type = args[0]->type;
      view.offset = int_of(args[1], "a tensor's storage offset");
      view.shape = ints_of(args[2], "a tensor's size");
      view.strides = ints_of(args[3], "a tensor's stride");
      if (args[4]->kind != Kind::Bool) refuse("a tensor's requires_grad is not a bool");
      if (args[5]->kind != Kind::Dict || !args[5]->entries.empty()) refuse("a tensor has backward hooks");
      if (args.size() == 7 && args[6]->kind != Kind::None && !(args[6]->kind == Kind::Dict && args[6]->entries.empty())) {
        refuse("a tensor has Python attributes (metadata)");
      }
      if (view.shape.size() != view.strides.size()) {
        refuse(fmt::format("a tensor's size {} and stride {} differ in length", view.shape, view.strides));
      }
      return tensor;
    }
    case Callable::Storage: break;
  }
  refuse(fmt::format("REDUCE calls '{}'", callable->text));
}

ValuePtr Unpickler::persistent_load(const ValuePtr& id) {
  // ('storage', torch.FloatStorage, key, location, numel)
  if (id->kind != Kind::Tuple || id->items.size() != 5) refuse("a persistent id that is not a 5-tuple");
  const std::vector<ValuePtr>& parts = id->items;
  if (parts[0]->kind != Kind::String || parts[0]->text != "storage") refuse("a persistent id that is not a 'storage'");
  if (parts[1]->kind != Kind::Global || parts[1]->callable != Callable::Storage) refuse("a storage without a storage type");
  if (parts[2]->kind != Kind::String) refuse("a storage key that is not a string");
  if (parts[3]->kind != Kind::String) refuse("a storage location that is not a string");
  const std::int64_t numel = int_of(parts[4], "a storage's element count");
  if (numel < 0) refuse(fmt::format("storage '{}' has {} elements", parts[2]->text, numel));
  const auto [found, inserted] = storages_.try_emplace(parts[2]->text, StorageInfo{parts[1]->type, numel});
  const StorageInfo& info = found->second;
  if (!inserted && (info.numel != numel || info.type.kind != parts[1]->type.kind || info.type.size != parts[1]->type.size)) {
    refuse(fmt::format("storage '{}' is declared twice with different types or sizes", parts[2]->text));
  }
  ValuePtr storage = make_value(Kind::Storage);
  storage->text = parts[2]->text;
  storage->type = parts[1]->type;
  storage->numel = numel;
  return storage;
}

ValuePtr Unpickler::run() {
  while (true) {
    opcode_at_ = position_;
    const auto opcode = static_cast<unsigned char>(take(1)[0]);
    switch (opcode) {
      case PROTO:
        if (take_unsigned(1) > 5) refuse("pickle protocol above 5");
        break;
      case FRAME: take(8); break;  // frames only group opcodes
      case MARK: marks_.push_back(stack_.size()); break;
      case STOP: {
        ValuePtr result = pop();
        if (!stack_.empty() || !marks_.empty()) refuse("STOP with more values on the stack");
        if (position_ != pickle_.size()) refuse("bytes after STOP");
        return result;
      }
      case NONE: push(make_value(Kind::None)); break;
      case NEWTRUE:
      case NEWFALSE: {
        ValuePtr value = make_value(Kind::Bool);
        value->integer = opcode == NEWTRUE;
        push(std::move(value));
        break;
      }
      case BININT1:
      case BININT2:
      case BININT:
      case LONG1: {
        ValuePtr value = make_value(Kind::Int);
        if (opcode == BININT1) value->integer = static_cast<std::int64_t>(take_unsigned(1));
        if (opcode == BININT2) value->integer = static_cast<std::int64_t>(take_unsigned(2));
        if (opcode == BININT) value->integer = static_cast<std::int32_t>(static_cast<std::uint32_t>(take_unsigned(4)));
        if (opcode == LONG1) {
          const std::size_t size = take_unsigned(1);
          if (size > 8) refuse(fmt::format("an integer of {} bytes (more than 64 bits)", size));
          std::uint64_t bits = take_unsigned(size);
          if (size > 0 && size < 8 && (bits >> (8 * size - 1)) != 0) bits |= ~std::uint64_t{0} << (8 * size);  // negative
          value->integer = static_cast<std::int64_t>(bits);
        }
        push(std::move(value));
        break;
      }
      case BINUNICODE:
      case SHORT_BINUNICODE: {
        const std::uint64_t size = take_unsigned(opcode == BINUNICODE ? 4 : 1);
        ValuePtr value = make_value(Kind::String);
        value->text = std::string(take(static_cast<std::size_t>(size)));
        push(std::move(value));
        break;
      }
      case EMPTY_TUPLE: push(make_value(Kind::Tuple)); break;
      case EMPTY_DICT: push(make_value(Kind::Dict)); break;
      case TUPLE: push(make_tuple(pop_mark())); break;
      case TUPLE1:
      case TUPLE2:
      case TUPLE3: {
        std::vector<ValuePtr> items(opcode - TUPLE1 + 1);
        for (std::size_t i = items.size(); i-- > 0;) items[i] = pop();
        push(make_tuple(std::move(items)));
        break;
      }
      case BINPUT:
      case LONG_BINPUT:
      case MEMOIZE: {
        const std::uint64_t index = opcode == MEMOIZE ? memo_.size() : take_unsigned(opcode == BINPUT ? 1 : 4);
        memo_[index] = top();
        break;
      }
      case BINGET:
      case LONG_BINGET: {
        const std::uint64_t index = take_unsigned(opcode == BINGET ? 1 : 4);
        const auto found = memo_.find(index);
        if (found == memo_.end()) refuse(fmt::format("memo entry {} is read before it is written", index));
        push(found->second);
        break;
      }
      case GLOBAL: {
        const std::string_view module = take_line();
        const std::string_view name = take_line();
        push(global(module, name));
        break;
      }
      case STACK_GLOBAL: {
        const ValuePtr name = pop();
        const ValuePtr module = pop();
        if (module->kind != Kind::String || name->kind != Kind::String) refuse("STACK_GLOBAL of values that are not strings");
        push(global(module->text, name->text));
        break;
      }
      case REDUCE: {
        const ValuePtr arguments = pop();
        const ValuePtr callable = pop();
        push(reduce(callable, arguments));
        break;
      }
      case BINPERSID: push(persistent_load(pop())); break;
      case SETITEM: {
        ValuePtr value = pop();
        ValuePtr key = pop();
        set_item(top(), std::move(key), std::move(value));
        break;
      }
      case SETITEMS: {
        std::vector<ValuePtr> items = pop_mark();
        if (items.size() % 2 != 0) refuse("SETITEMS with an odd number of values");
        const ValuePtr& dict = top();
        for (std::size_t i = 0; i < items.size(); i += 2) set_item(dict, std::move(items[i]), std::move(items[i + 1]));
        break;
      }
      case BUILD: {
        // torch.save sets the state dict's `_metadata` attribute (module versions) this way;
        // xgrad has no use for it.
        const ValuePtr state = pop();
        const ValuePtr& object = top();
        if (object->kind != Kind::Dict || (state->kind != Kind::Dict && state->kind != Kind::None)) {
          refuse(fmt::format("BUILD of {} with {} (only a dict's attributes are accepted)", kind_name(object->kind),
                             kind_name(state->kind)));
        }
        break;
      }
      default: {
        const char printable = opcode >= 0x20 && opcode < 0x7f ? static_cast<char>(opcode) : '?';
        refuse(fmt::format("refusing pickle opcode 0x{:02x} ('{}'): not one torch.save uses for a state dict",
                           opcode, printable));
      }
    }
  }
}

// The folder that holds data.pkl ("archive", or the file's stem for PyTorch 1.x).
std::string find_folder(const ZipReader& zip, const std::string& where) {
  std::optional<std::string> folder;
  for (std::size_t i = 0; i < zip.size(); ++i) {
    const std::string& name = zip.name(i);
    const std::size_t slash = name.find('/');
    if (slash == std::string::npos || name.substr(slash) != "/data.pkl") continue;
    XGRAD_CHECK(!folder, "{}: the archive holds two pickles ('{}/data.pkl' and '{}')", where, *folder, name);
    folder = name.substr(0, slash);
  }
  XGRAD_CHECK(folder.has_value(), "{}: not a torch.save file: the zip archive has no '<folder>/data.pkl'", where);
  return *folder;
}

Tensor tensor_from(const std::string& name, const TensorView& view, const std::string& data, bool big_endian,
                   const std::string& where) {
  StoredType type = view.type;
  type.big_endian = big_endian && type.size > 1;
  const std::int64_t extent = strided_extent(view.shape, view.strides, view.offset);
  const auto elements = static_cast<std::int64_t>(data.size() / static_cast<std::size_t>(type.size));
  XGRAD_CHECK(extent >= 0 && extent <= elements,
              "{}: tensor '{}' (size {}, stride {}, offset {}) reaches past its storage '{}' of {} elements", where,
              name, view.shape, view.strides, view.offset, view.storage_key, elements);
  return gather_elements(data, type, view.shape, view.strides, view.offset, where);
}

StateDict read_torch(const std::string& path, const std::string& op) {
  const std::string where = fmt::format("{}: '{}'", op, path);
  std::string bytes = read_file_bytes(path, op);
  XGRAD_CHECK(bytes.size() >= 4 && bytes.compare(0, 4, "PK\x03\x04") == 0,
              "{}: not a torch.save zip file (PyTorch's legacy format, _use_new_zipfile_serialization=False, and "
              "TorchScript archives are not read)",
              where);
  const std::uint64_t file_size = bytes.size();
  const ZipReader zip(std::move(bytes), where);
  const std::string folder = find_folder(zip, where);
  bool big_endian = false;
  if (const auto byteorder = zip.find(folder + "/byteorder")) {
    const std::string order = zip.read(*byteorder, "the byte order");
    XGRAD_CHECK(order == "little" || order == "big", "{}: byteorder is '{}', not 'little' or 'big'", where,
                order.substr(0, 16));
    big_endian = order == "big";
  }
  const std::string pickle = zip.read(*zip.find(folder + "/data.pkl"), "the pickle");
  Unpickler unpickler(pickle, where);
  const ValuePtr result = unpickler.run();
  XGRAD_CHECK(result->kind == Kind::Dict, "{}: holds {}, not a state dict (a dict of tensors)", where,
              kind_name(result->kind));
  // Check every tensor against its storage, and the total against the file, before allocating.
  std::unordered_map<std::string, std::string> storage_data;
  unsigned __int128 output_bytes = 0;
  for (const auto& [name, value] : result->entries) {
    XGRAD_CHECK(value->kind == Kind::Tensor, "{}: entry '{}' is {}, not a tensor", where, name, kind_name(value->kind));
    const TensorView& view = value->tensor;
    const std::int64_t numel = checked_numel(view.shape, where);
    output_bytes += static_cast<unsigned __int128>(numel) * element_size(view.type.dtype);
    const StorageInfo& storage = unpickler.storages().at(view.storage_key);
    const std::string entry = folder + "/data/" + view.storage_key;
    const auto index = zip.find(entry);
    XGRAD_CHECK(index.has_value(), "{}: tensor '{}' refers to storage '{}', but the archive has no '{}'", where, name,
                view.storage_key, entry);
    if (!storage_data.contains(view.storage_key)) {
      std::string data = zip.read(*index, "a storage");
      const unsigned __int128 expected = static_cast<unsigned __int128>(storage.numel) * storage.type.size;
      XGRAD_CHECK(data.size() == expected, "{}: storage '{}' holds {} bytes, but {} elements of {} bytes were declared",
                  where, view.storage_key, data.size(), storage.numel, storage.type.size);
      storage_data.emplace(view.storage_key, std::move(data));
    }
  }
  // Views may overlap (stride 0) and share storages, so a tiny file could describe
  // terabytes of tensors; xgrad makes them at most 8 times the file's size.
  const unsigned __int128 budget = static_cast<unsigned __int128>(file_size) * 8 + (1 << 20);
  XGRAD_CHECK(output_bytes <= budget,
              "{}: its tensors would take more than 8 times the file's {} bytes (overlapping or shared views); "
              "refusing to allocate that much",
              where, file_size);
  StateDict state_dict;
  state_dict.reserve(result->entries.size());
  for (const auto& [name, value] : result->entries) {
    state_dict.emplace_back(name, tensor_from(name, value->tensor, storage_data.at(value->tensor.storage_key),
                                              big_endian, where));
  }
  return state_dict;
}

// ---- writing ----

class Pickler {
 public:
  void opcode(Opcode op) { out_ += static_cast<char>(op); }
  void integer(std::int64_t value) {
    if (value >= 0 && value < 256) {
      opcode(BININT1);
      raw(static_cast<std::uint64_t>(value), 1);
    } else if (value >= 0 && value < 65536) {
      opcode(BININT2);
      raw(static_cast<std::uint64_t>(value), 2);
    } else if (value >= INT32_MIN && value <= INT32_MAX) {
      opcode(BININT);
      raw(static_cast<std::uint32_t>(static_cast<std::int32_t>(value)), 4);
    } else {
      opcode(LONG1);
      raw(8, 1);
      raw(static_cast<std::uint64_t>(value), 8);
    }
  }
  void string(std::string_view text) {
    opcode(BINUNICODE);
    raw(text.size(), 4);
    out_ += text;
  }
  void global(std::string_view module, std::string_view name) {
    opcode(GLOBAL);
    out_ += fmt::format("{}\n{}\n", module, name);
  }
  void ints(const std::vector<std::int64_t>& values) {
    opcode(MARK);
    for (std::int64_t value : values) integer(value);
    opcode(TUPLE);
  }
  std::string take() { return std::move(out_); }

 private:
  void raw(std::uint64_t value, int size) {
    for (int i = 0; i < size; ++i) out_ += static_cast<char>((value >> (8 * i)) & 0xff);
  }
  std::string out_;
};

std::string_view storage_name(Dtype dtype) {
  switch (dtype) {
    case Dtype::Float32: return "FloatStorage";
    case Dtype::Float64: return "DoubleStorage";
    case Dtype::Int64: return "LongStorage";
    case Dtype::Bool: break;
  }
  return "BoolStorage";
}

void write_torch(const std::string& path, const StateDict& state_dict, const std::string& op) {
  const std::string where = fmt::format("{}: '{}'", op, path);
  // The pickle torch.save writes for an OrderedDict of tensors (without _metadata, which
  // load_state_dict does not need): one storage per tensor, keyed "0", "1", ...
  Pickler pickle;
  pickle.opcode(PROTO);
  pickle.opcode(static_cast<Opcode>(2));
  pickle.global("collections", "OrderedDict");
  pickle.opcode(EMPTY_TUPLE);
  pickle.opcode(REDUCE);
  pickle.opcode(MARK);
  std::unordered_map<std::string, bool> seen;
  for (std::size_t i = 0; i < state_dict.size(); ++i) {
    const auto& [name, tensor] = state_dict[i];
    XGRAD_CHECK(tensor.defined(), "{}: tensor '{}' is undefined", where, name);
    XGRAD_CHECK(seen.emplace(name, true).second, "{}: the state dict holds '{}' twice", where, name);
    const Shape& shape = tensor.shape();
    std::vector<std::int64_t> strides(shape.size());
    std::int64_t stride = 1;
    for (std::size_t d = shape.size(); d-- > 0;) {
      strides[d] = stride;
      stride *= shape[d];
    }
    pickle.string(name);
    pickle.global("torch._utils", "_rebuild_tensor_v2");
    pickle.opcode(MARK);
    pickle.opcode(MARK);
    pickle.string("storage");
    pickle.global("torch", storage_name(tensor.dtype()));
    pickle.string(std::to_string(i));
    pickle.string("cpu");
    pickle.integer(tensor.numel());
    pickle.opcode(TUPLE);
    pickle.opcode(BINPERSID);
    pickle.integer(0);
    pickle.ints(shape);
    pickle.ints(strides);
    pickle.opcode(NEWFALSE);
    pickle.global("collections", "OrderedDict");
    pickle.opcode(EMPTY_TUPLE);
    pickle.opcode(REDUCE);
    pickle.opcode(TUPLE);
    pickle.opcode(REDUCE);
  }
  pickle.opcode(SETITEMS);
  pickle.opcode(STOP);

  ZipWriter zip(where);
  zip.add("archive/data.pkl", pickle.take(), {.align = 64});
  zip.add("archive/byteorder", "little", {.align = 64});
  for (std::size_t i = 0; i < state_dict.size(); ++i) {
    const Tensor& tensor = state_dict[i].second;
    const std::size_t bytes = static_cast<std::size_t>(tensor.numel()) * element_size(tensor.dtype());
    zip.add("archive/data/" + std::to_string(i),
            std::string(static_cast<const char*>(tensor.impl()->storage->data()), bytes), {.align = 64});
  }
  zip.add("archive/version", "3\n", {.align = 64});
  write_file_atomically(path, zip.finish(), op);
}

}  // namespace

StateDict read_torch_file(const std::string& path, const std::string& op) {
  return with_file_errors(op, path, [&] { return read_torch(path, op); });
}

void write_torch_file(const std::string& path, const StateDict& state_dict, const std::string& op) {
  with_file_errors(op, path, [&] { write_torch(path, state_dict, op); });
}

}  // namespace xgrad::detail
