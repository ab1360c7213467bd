// Command-line plumbing that kvctl and kvload add on top of absl flags.
//
//   * Repeatable flags (--stop A --stop B, --user Q --assistant A --user Q2): absl keeps only a
//     flag's last value, so ExtractRepeatedFlags takes every occurrence of the named flags out of
//     argv, in command-line order, before absl::ParseCommandLine sees the rest. It accepts the
//     forms absl accepts for a string flag (--name=value, --name value, -name=value, -name value)
//     and leaves everything after "--" alone.
//   * Flag value errors as a status: absl::ParseCommandLine exits with status 1 on a value that
//     does not parse (--n abc) or an unknown flag, where kvctl exits with 2 for any bad input.
//     CheckFlagValues finds those first, so the caller can report them its own way.
//
// Threads: call from main's thread before flags are read (CheckFlagValues sets flag values).
#ifndef KVSERVE_CLIENTS_COMMAND_LINE_H_
#define KVSERVE_CLIENTS_COMMAND_LINE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kvserve {

struct RepeatedFlag {
  std::string name;  // without dashes
  std::string value;
};

struct ExtractedArgs {
  std::vector<char*> argv;          // argv without the repeated flags (pointers into the input)
  std::vector<RepeatedFlag> flags;  // every occurrence, in order
  // The values of one of the names, in order.
  std::vector<std::string> Values(const std::string& name) const;
};

// INVALID_ARGUMENT if one of `names` is last on the command line without a value.
absl::StatusOr<ExtractedArgs> ExtractRepeatedFlags(int argc, char** argv,
                                                   const std::vector<std::string>& names);

// Checks every flag in argv[1..] (up to "--") against the registered absl flags: the flag must
// exist (bool flags also as --noname) and its value must parse as the flag's type. absl's usage
// flags (--help, --helpfull, --version, ...) are left to ParseCommandLine.
// INVALID_ARGUMENT naming the flag otherwise. Parsing sets the flag, as ParseCommandLine would.
absl::Status CheckFlagValues(const std::vector<char*>& argv);

}  // namespace kvserve

#endif  // KVSERVE_CLIENTS_COMMAND_LINE_H_
