#include "clients/command_line.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace kvserve {
namespace {

// "--name=value" / "-name" → name and, if there is an '=', the value; nullopt name for an
// argument that is not a flag ("x", "-", "--").
struct FlagArg {
  std::optional<std::string> name;
  std::optional<std::string> value;
};

// absl's usage flags (--help, --helpfull, ...), which ParseCommandLine handles itself and which
// are not all in the registry that FindCommandLineFlag searches.
bool IsUsageFlag(absl::string_view name) {
  for (absl::string_view usage : {"help", "helpfull", "helpshort", "helppackage", "helpon",
                                  "helpmatch", "version", "only_check_args"}) {
    if (name == usage) return true;
  }
  return false;
}

FlagArg SplitFlag(absl::string_view arg) {
  FlagArg out;
  if (arg.size() < 2 || arg[0] != '-' || arg == "--") return out;
  arg.remove_prefix(arg[1] == '-' ? 2 : 1);
  if (arg.empty()) return out;
  const size_t eq = arg.find('=');
  out.name = std::string(arg.substr(0, eq));
  if (eq != absl::string_view::npos) out.value = std::string(arg.substr(eq + 1));
  return out;
}

}  // namespace

std::vector<std::string> ExtractedArgs::Values(const std::string& name) const {
  std::vector<std::string> values;
  for (const RepeatedFlag& f : flags) {
    if (f.name == name) values.push_back(f.value);
  }
  return values;
}

absl::StatusOr<ExtractedArgs> ExtractRepeatedFlags(int argc, char** argv,
                                                   const std::vector<std::string>& names) {
  ExtractedArgs out;
  int i = 0;
  if (argc > 0) out.argv.push_back(argv[i++]);  // the program
  for (; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") break;  // the rest is positional
    const FlagArg flag = SplitFlag(arg);
    if (!flag.name.has_value() ||
        std::find(names.begin(), names.end(), *flag.name) == names.end()) {
      out.argv.push_back(argv[i]);
      continue;
    }
    if (flag.value.has_value()) {
      out.flags.push_back({*flag.name, *flag.value});
      continue;
    }
    if (i + 1 >= argc) {
      return absl::InvalidArgumentError(absl::StrCat("--", *flag.name, " needs a value"));
    }
    out.flags.push_back({*flag.name, argv[++i]});
  }
  for (; i < argc; ++i) out.argv.push_back(argv[i]);
  return out;
}

absl::Status CheckFlagValues(const std::vector<char*>& argv) {
  for (size_t i = 1; i < argv.size(); ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") break;
    const FlagArg parsed = SplitFlag(arg);
    if (!parsed.name.has_value()) continue;  // positional
    const std::string& name = *parsed.name;
    if (IsUsageFlag(name)) continue;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && absl::StartsWith(name, "no")) {
      // --noname turns a bool flag off, and takes no value.
      absl::CommandLineFlag* negated = absl::FindCommandLineFlag(name.substr(2));
      if (negated != nullptr && negated->IsOfType<bool>() && !parsed.value.has_value()) continue;
    }
    if (flag == nullptr || flag->IsRetired()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    std::optional<std::string> value = parsed.value;
    if (!value.has_value()) {
      if (flag->IsOfType<bool>()) continue;  // --name alone sets a bool flag
      if (i + 1 >= argv.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
      value = argv[++i];
    }
    std::string error;
    if (!flag->ParseFrom(*value, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", error));
    }
  }
  return absl::OkStatus();
}

}  // namespace kvserve
