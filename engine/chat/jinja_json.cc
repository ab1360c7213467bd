#include "engine/chat/jinja_json.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/chat/jinja_text.h"
#include "engine/chat/status_macros.h"

namespace kvserve::jinja {
namespace {

// Deeper values are refused (only namespaces can nest without bound, and they are refused
// anyway; this guards the recursion).
constexpr int kMaxJsonDepth = 512;

void AppendJsonString(absl::string_view s, bool ensure_ascii, std::string* out) {
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    size_t len;
    const uint32_t c = DecodeCodePoint(s, i, &len);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default:
        if (c < 0x20 || (ensure_ascii && c >= 0x7f)) {
          if (c >= 0x10000) {
            const uint32_t v = c - 0x10000;
            absl::StrAppendFormat(out, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
          } else {
            absl::StrAppendFormat(out, "\\u%04x", c);
          }
        } else {
          absl::StrAppend(out, s.substr(i, len));
        }
    }
    i += len;
  }
  out->push_back('"');
}

class JsonWriter {
 public:
  explicit JsonWriter(const JsonDumpOptions& options)
      : options_(options),
        item_separator_(options.item_separator.value_or(options.indent ? "," : ", ")) {}

  absl::Status Write(const Value& value, int level) {
    if (level > kMaxJsonDepth)
      return absl::InvalidArgumentError("value nested too deeply for JSON");
    switch (value.kind()) {
      case Value::Kind::kNone:
        out_.append("null");
        return absl::OkStatus();
      case Value::Kind::kBool:
        out_.append(value.bool_value() ? "true" : "false");
        return absl::OkStatus();
      case Value::Kind::kInt:
        absl::StrAppend(&out_, value.int_value());
        return absl::OkStatus();
      case Value::Kind::kFloat: {
        const double f = value.float_value();
        if (std::isnan(f)) {
          out_.append("NaN");
        } else if (std::isinf(f)) {
          out_.append(f > 0 ? "Infinity" : "-Infinity");
        } else {
          out_.append(FloatRepr(f));
        }
        return absl::OkStatus();
      }
      case Value::Kind::kString:
        AppendJsonString(value.string_value(), options_.ensure_ascii, &out_);
        return absl::OkStatus();
      case Value::Kind::kList:
        return WriteList(value.list_items(), level);
      case Value::Kind::kDict:
        return WriteDict(value.dict(), level);
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("Object of type ", value.TypeName(), " is not JSON serializable"));
    }
  }

  std::string Take() { return std::move(out_); }

 private:
  void NewLine(int level) {
    out_.push_back('\n');
    for (int i = 0; i < level; ++i) out_.append(*options_.indent);
  }

  absl::Status WriteList(const ValueList& items, int level) {
    if (items.empty()) {
      out_.append("[]");
      return absl::OkStatus();
    }
    out_.push_back('[');
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out_.append(item_separator_);
      if (options_.indent) NewLine(level + 1);
      CHAT_RETURN_IF_ERROR(Write(items[i], level + 1));
    }
    if (options_.indent) NewLine(level);
    out_.push_back(']');
    return absl::OkStatus();
  }

  absl::Status WriteDict(const Dict& dict, int level) {
    if (dict.empty()) {
      out_.append("{}");
      return absl::OkStatus();
    }
    // Python's json: str keys as they are; int, float, bool and None keys as their JSON text.
    std::vector<std::pair<std::string, const Value*>> entries;
    for (const Dict::Entry& entry : dict.entries()) {
      const Value& key = entry.first;
      std::string text;
      if (key.is_string()) {
        text = key.string_value();
      } else if (key.is_bool()) {
        text = key.bool_value() ? "true" : "false";
      } else if (key.is_none()) {
        text = "null";
      } else if (key.is_int()) {
        text = absl::StrCat(key.int_value());
      } else if (key.is_float()) {
        text = FloatRepr(key.float_value());
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("keys must be str, int, float, bool or None, not ", key.TypeName()));
      }
      entries.emplace_back(std::move(text), &entry.second);
    }
    if (options_.sort_keys) {
      std::stable_sort(entries.begin(), entries.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
    }
    out_.push_back('{');
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i > 0) out_.append(item_separator_);
      if (options_.indent) NewLine(level + 1);
      AppendJsonString(entries[i].first, options_.ensure_ascii, &out_);
      out_.append(options_.key_separator);
      CHAT_RETURN_IF_ERROR(Write(*entries[i].second, level + 1));
    }
    if (options_.indent) NewLine(level);
    out_.push_back('}');
    return absl::OkStatus();
  }

  const JsonDumpOptions& options_;
  const std::string item_separator_;
  std::string out_;
};

}  // namespace

Value FromJson(const nlohmann::ordered_json& json) {
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value::None();
    case nlohmann::ordered_json::value_t::boolean:
      return Value::Bool(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value::Int(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t u = json.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::Float(static_cast<double>(u));
      return Value::Int(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value::Float(json.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value::String(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      ValueList items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(FromJson(item));
      return Value::List(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict dict;
      for (const auto& [key, item] : json.items()) dict.Set(key, FromJson(item));
      return Value::FromDict(std::move(dict));
    }
    default:  // binary, discarded
      return Value::None();
  }
}

absl::StatusOr<std::string> DumpJson(const Value& value, const JsonDumpOptions& options) {
  JsonWriter writer(options);
  CHAT_RETURN_IF_ERROR(writer.Write(value, 0));
  return writer.Take();
}

}  // namespace kvserve::jinja
