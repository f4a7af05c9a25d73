// Declare-once config options. Each Options struct lists each of its keys ONE time:
//
//   const OptionSchema<LocalOptions>& LocalOptions::schema() {
//     static const auto s = OptionSchema<LocalOptions>("train")
//         .key("batch_size", &LocalOptions::batch_size, "minibatch size B", ">= 1")
//         .key("lr", &LocalOptions::lr, "learning rate η at round 0", "(0, 100]")
//         .key("partition", &DataOptions::partition, "how labels are split", one_of({"iid", "dirichlet"}));
//     return s;
//   }
//
// and that one declaration drives
//   (a) parsing with type checks and the allowed range or choices (floats must also be finite),
//   (b) the unknown-key check (always on; "did you mean"),
//   (c) the resolved tree written to runs/<name>/config.toml (ConfigTable::resolved), and
//   (d) the key tables of docs/config.md (`plexus config docs`; a test fails when they disagree).
// The default of a key is the struct's in-class default (read from a default-constructed struct), so it is
// written once too. Checks that relate two keys (min_lr <= lr) stay in the struct's parse after schema().parse.
// In the spirit of tensorstore's JSON binders, which are the config schema and feed its docs.
#pragma once

#include <fmt/format.h>

#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "plexus/core/config.h"

namespace plexus {

/// The values one key allows, written the way docs and errors print them.
class Allowed {
 public:
  /// Any value of the key's type (floats must still be finite).
  Allowed() = default;
  /// A range in interval notation: "> 0", ">= 1", "< 1", "<= 10", "[0, 1)", "(0, 1e6]". Bounds are numbers.
  /// Throws: Error(Internal) on a malformed spec (a bug in a declaration).
  Allowed(const char* spec);  // NOLINT: implicit, so declarations read `..., ">= 1")`
  /// Strings from a fixed list.
  static Allowed choices(std::vector<std::string> names);
  /// Strings from a list computed when parsing (a registry); `doc` describes it in docs/config.md.
  static Allowed choices(std::function<std::vector<std::string>()> names, std::string doc);

  bool any() const { return kind_ == Kind::Any; }
  bool is_range() const { return kind_ == Kind::Range; }
  bool is_choice() const { return kind_ == Kind::Choice; }
  /// Whether `v` lies in the range (true for Any).
  bool contains(double v) const;
  /// The allowed names (Choice only).
  std::vector<std::string> names() const { return names_ ? names_() : std::vector<std::string>{}; }
  /// "> 0", "[0, 1)", "\"iid\" \| \"dirichlet\"" or the doc of a computed list; "" for Any.
  std::string text() const;
  /// The error clause: "must be > 0", "must be in [0, 1)".
  std::string requirement() const;

 private:
  enum class Kind { Any, Range, Choice };
  Kind kind_ = Kind::Any;
  std::string spec_;
  double lo_ = 0, hi_ = 0;
  bool has_lo_ = false, has_hi_ = false, lo_open_ = false, hi_open_ = false;
  std::function<std::vector<std::string>()> names_;
  std::string names_doc_;
};

/// Short alias for declarations: one_of({"iid", "dirichlet"}).
inline Allowed one_of(std::vector<std::string> names) { return Allowed::choices(std::move(names)); }

/// What docs/config.md shows of one key.
struct KeyDoc {
  std::string name;
  std::string type;          ///< "int", "float", "bool", "string", "float array", "int array", "string array"
  std::string default_text;  ///< the default as a TOML literal
  std::string allowed;       ///< Allowed::text()
  std::string doc;           ///< one line
};

/// TOML literal of a value, floats in shortest round-trip form (0.3, not 0.29999999999999999).
std::string toml_literal(bool v);
std::string toml_literal(int64_t v);
std::string toml_literal(int v);
std::string toml_literal(uint64_t v);
std::string toml_literal(double v);
std::string toml_literal(const std::string& v);
std::string toml_literal(const std::vector<double>& v);
std::string toml_literal(const std::vector<int64_t>& v);
std::string toml_literal(const std::vector<std::string>& v);

/// The markdown key table of one section (the form docs/config.md holds between its generated markers).
std::string markdown_table(const std::vector<KeyDoc>& keys);

namespace detail {
template <class M> constexpr const char* type_name() {
  if constexpr (std::is_same_v<M, bool>) return "bool";
  else if constexpr (std::is_integral_v<M>) return "int";
  else if constexpr (std::is_floating_point_v<M>) return "float";
  else if constexpr (std::is_same_v<M, std::string>) return "string";
  else if constexpr (std::is_same_v<M, std::vector<double>>) return "float array";
  else if constexpr (std::is_same_v<M, std::vector<int64_t>>) return "int array";
  else return "string array";
}
/// Range or choice check of a value just read; throws Error(Config) through ConfigTable::require.
void check_allowed(ConfigTable& t, std::string_view key, double v, const Allowed& a);
void check_allowed(ConfigTable& t, std::string_view key, const std::string& v, const Allowed& a);
template <class M> void check_value(ConfigTable& t, std::string_view key, const M& v, const Allowed& a) {
  if constexpr (std::is_same_v<M, bool>) {
    (void)t, (void)key, (void)v, (void)a;
  } else if constexpr (std::is_arithmetic_v<M> || std::is_same_v<M, std::string>) {
    if constexpr (std::is_arithmetic_v<M>) check_allowed(t, key, static_cast<double>(v), a);
    else check_allowed(t, key, v, a);
  } else {
    for (const auto& e : v) check_value(t, key, e, a);  // arrays: every element
  }
}
}  // namespace detail

/// The declared keys of one Options struct T (one TOML table). Build it once (a function-local static).
template <class T>
class OptionSchema {
 public:
  /// `section` names the table in errors and docs ("train", "model").
  explicit OptionSchema(std::string section) : section_(std::move(section)) {}

  /// Declare key `name` stored in `member`; `doc` is one line; `allowed` its range or choices.
  template <class M>
  OptionSchema&& key(std::string name, M T::*member, std::string doc, Allowed allowed = {}) && {
    add(std::move(name), member, std::move(doc), std::move(allowed));
    return std::move(*this);
  }

  /// Declare every key of `schema` (a nested struct `member` of T) as keys of this table, in its order.
  template <class B>
  OptionSchema&& include(B T::*member, const OptionSchema<B>& schema) && {
    add_all(schema, [member](T& o) -> B& { return o.*member; });
    return std::move(*this);
  }

  /// Declare every key of `schema`, the schema of a base struct B of T (a family extending [run]).
  template <class B>
  OptionSchema&& include_base(const OptionSchema<B>& schema) && {
    static_assert(std::is_base_of_v<B, T>);
    add_all(schema, [](T& o) -> B& { return static_cast<B&>(o); });
    return std::move(*this);
  }

  /// Read every declared key of `t` into a default-constructed T (type, range and choice checks), record
  /// the resolved values in `t`, and reject keys that are not declared.
  /// Throws: Error(Config) naming the key, its value, what is allowed and how to set it.
  T parse(ConfigTable& t) const {
    T o;
    for (const auto& r : readers_) r(t, o);
    t.finish();
    return o;
  }

  /// Check a struct filled in code or from command-line flags against the declared ranges and choices.
  /// Errors name the key as `t` does (a config key, or a --flag for ConfigTable::flags).
  /// Throws: Error(Config).
  void check(const T& o, ConfigTable& t) const {
    T copy = o;
    for (const auto& r : readers_) r(t, copy);
  }

  const std::string& section() const { return section_; }
  std::size_t size() const { return docs_.size(); }
  const std::vector<KeyDoc>& docs() const { return docs_; }
  /// The markdown key table of this section.
  std::string markdown() const { return markdown_table(docs_); }

  // For include(): key i's reader and value formatter.
  std::function<void(ConfigTable&, T&)> reader(std::size_t i) const { return readers_[i]; }
  std::function<std::string(const T&)> text_fn(std::size_t i) const { return texts_[i]; }
  std::string value_text(std::size_t i, const T& o) const { return texts_[i](o); }

 private:
  template <class B, class Get>
  void add_all(const OptionSchema<B>& schema, Get get) {
    T defaults{};
    for (std::size_t i = 0; i < schema.size(); ++i) {
      KeyDoc d = schema.docs()[i];
      for (const auto& e : docs_) PLEXUS_CHECK(e.name != d.name, "[{}] key '{}' declared twice", section_, d.name);
      d.default_text = schema.value_text(i, get(defaults));
      docs_.push_back(std::move(d));
      auto read = schema.reader(i);
      readers_.push_back([get, read](ConfigTable& t, T& o) { read(t, get(o)); });
      auto text = schema.text_fn(i);
      texts_.push_back([get, text](const T& o) { return text(get(const_cast<T&>(o))); });
    }
  }

  template <class M>
  void add(std::string name, M T::*member, std::string doc, Allowed allowed) {
    for (const auto& d : docs_) PLEXUS_CHECK(d.name != name, "[{}] key '{}' declared twice", section_, name);
    const T defaults{};
    docs_.push_back({name, detail::type_name<M>(), toml_literal(defaults.*member), allowed.text(), std::move(doc)});
    readers_.push_back([name, member, allowed](ConfigTable& t, T& o) {
      M& field = o.*member;
      t.get(name, field);
      detail::check_value(t, name, field, allowed);
    });
    texts_.push_back([member](const T& o) { return toml_literal(o.*member); });
  }

  std::string section_;
  std::vector<KeyDoc> docs_;
  std::vector<std::function<void(ConfigTable&, T&)>> readers_;
  std::vector<std::function<std::string(const T&)>> texts_;
};

/// One generated block of docs/config.md: the key table of `section` in `family`.
struct SectionDoc {
  std::string family;   ///< "fl", "llm", "tune"
  std::string section;  ///< "train"
  std::string table;    ///< markdown_table(keys)
  std::vector<KeyDoc> keys;
  /// The marker id: "fl.train".
  std::string id() const { return family + "." + section; }
};

template <class T>
SectionDoc section_doc(std::string family, const OptionSchema<T>& s) {
  return {std::move(family), s.section(), s.markdown(), s.docs()};
}

/// Replace the body of every `<!-- generated: <id> -->` … `<!-- end generated -->` block of `doc` with the
/// table of the section of that id. Throws: Error(Config) for a block whose id no section has.
std::string fill_generated_blocks(const std::string& doc, const std::vector<SectionDoc>& sections);

/// Differences between `doc`'s generated blocks and `sections`, one line each (empty = they agree): a block
/// whose table differs, a section without a block, a block without a section.
std::vector<std::string> check_generated_blocks(const std::string& doc, const std::vector<SectionDoc>& sections);

}  // namespace plexus
