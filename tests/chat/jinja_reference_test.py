#!/usr/bin/python3
"""kvserve's Jinja interpreter against python3-jinja2, byte for byte.

Every case is rendered twice: by kvchat_render (engine/chat through its public API), and by
Debian's python3-jinja2 set up the way transformers' apply_chat_template sets it up
(ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with loopcontrols and the
`generation` tag, the globals raise_exception and strftime_now, and its own tojson filter; the
variables messages, tools=None, documents=None, add_generation_prompt, bos_token / eos_token, then
the extra ones). A case passes when both give the same bytes, or both raise_exception with the same
message, or both fail otherwise (an undefined attribute, a type error). Anything else prints a
diff and fails the test.

Cases: each template in --templates (real models' templates, see templates/README.md) and the
built-in ChatML template, times message sets (with a system prompt and without, multi-turn,
unicode, a tool result, reasoning text, empty, non-alternating), times add_generation_prompt
true/false, times the template's variants (enable_thinking false, a date_string); plus the small
templates of --snippets (a JSON list of {"name", "template", "vars"}) that pin down the semantics
one construct at a time.

--survey DIR renders every *.jinja in DIR with the message sets and prints how many cases match,
without failing: how far the interpreter gets on templates it was not written against.
"""

import argparse
import difflib
import glob
import json
import os
import subprocess
import sys
from datetime import datetime

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

NOW = "2024-07-26T10:30:00"  # strftime_now's clock in both renderers


class GenerationTag(jinja2.ext.Extension):
    """transformers' AssistantTracker, minus the tracking: renders the block's body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_environment(now):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return now.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def python_render(source, case):
    env = make_environment(datetime.fromisoformat(NOW))
    variables = {"messages": case["messages"], "tools": None, "documents": None,
                 "add_generation_prompt": case["add_generation_prompt"]}
    for token in ("bos_token", "eos_token"):
        if case.get(token) is not None:
            variables[token] = case[token]
    variables.update(case.get("vars", {}))
    try:
        return "ok", env.from_string(source).render(**variables)
    except jinja2.exceptions.TemplateError as e:
        if type(e) is jinja2.exceptions.TemplateError:  # raise_exception's own class
            return "raised", e.message
        return "error", f"{type(e).__name__}: {e}"
    except Exception as e:  # TypeError, ValueError, ... from inside the template
        return "error", f"{type(e).__name__}: {e}"


def kvserve_render(binary, template_path, case):
    command = [binary, "--messages", json.dumps(case["messages"]), "--now", NOW]
    command += ["--chatml"] if template_path is None else ["--template", template_path]
    if not case["add_generation_prompt"]:
        command.append("--no_generation_prompt")
    if case.get("bos_token") is not None:
        command += ["--bos", case["bos_token"]]
    if case.get("eos_token") is not None:
        command += ["--eos", case["eos_token"]]
    if case.get("vars"):
        command += ["--vars", json.dumps(case["vars"])]
    result = subprocess.run(command, capture_output=True, timeout=60)
    stderr = result.stderr.decode("utf-8", "replace")
    if result.returncode == 0:
        return "ok", result.stdout.decode("utf-8")
    if result.returncode == 3:
        return "raised", stderr
    return ("parse-error" if result.returncode == 2 else "error"), stderr


SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
MESSAGE_SETS = {
    "user": [{"role": "user", "content": "Hello!"}],
    "system_user": [SYSTEM, {"role": "user", "content": "What is the capital of France?"}],
    "multi_turn": [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke."},
    ],
    "system_multi_turn": [
        SYSTEM,
        {"role": "user", "content": "2 + 2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3 + 3?"},
        {"role": "assistant", "content": "6"},
    ],
    "unicode_and_markup": [
        {"role": "system", "content": "Réponds en français. 日本語もOK 🙂\n"},
        {"role": "user", "content": "  Spaces around, \"quotes\", 'single', {{ braces }}, "
                                    "{% tags %}, back\\slash\ttab\nnew line  \n"},
    ],
    "reasoning": [
        {"role": "user", "content": "What is 17 * 3?"},
        {"role": "assistant", "content": "<think>\n17 * 3 = 51\n</think>\n\n51"},
        {"role": "user", "content": "And 17 * 4?"},
    ],
    "reasoning_field": [
        {"role": "user", "content": "Why?"},
        {"role": "assistant", "content": "Because.", "reasoning_content": "Think first."},
        {"role": "user", "content": "Really?"},
    ],
    "no_think_system": [
        {"role": "system", "content": "Be brief. /no_think"},
        {"role": "user", "content": "Hi"},
    ],
    "tool_result": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "Let me check."},
        {"role": "tool", "content": "{\"temperature\": 21, \"unit\": \"C\"}"},
        {"role": "user", "content": "Thanks"},
    ],
    "empty_content": [{"role": "user", "content": ""}],
    "non_alternating": [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}],
    "no_messages": [],
}

LLAMA3 = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
MISTRAL = {"bos_token": "<s>", "eos_token": "</s>"}
# Each fixture's special tokens (as its tokenizer_config.json has them) and variable variants.
FIXTURES = {
    "Qwen-Qwen2.5-7B-Instruct.jinja": {"eos_token": "<|im_end|>"},
    "Qwen-Qwen3-0.6B.jinja": {"eos_token": "<|im_end|>",
                              "variants": [{}, {"enable_thinking": False},
                                           {"enable_thinking": True}]},
    "meta-llama-Llama-3.1-8B-Instruct.jinja": dict(LLAMA3, variants=[{}, {"date_string": "1 Jan 2025"}]),
    "meta-llama-Llama-3.2-3B-Instruct.jinja": dict(LLAMA3, variants=[{}, {"date_string": "1 Jan 2025"}]),
    "meta-llama-Llama-3.3-70B-Instruct.jinja": dict(LLAMA3),
    "mistralai-Mistral-Nemo-Instruct-2407.jinja": dict(MISTRAL),
    "Mistral-Small-3.2-24B-Instruct-2506.jinja": dict(MISTRAL),
    "microsoft-Phi-3.5-mini-instruct.jinja": {"bos_token": "<s>", "eos_token": "<|endoftext|>"},
    "google-gemma-2-2b-it.jinja": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "HuggingFaceTB-SmolLM3-3B.jinja": {"eos_token": "<|im_end|>",
                                       "variants": [{}, {"enable_thinking": False}]},
}


def template_cases(spec):
    for set_name, messages in MESSAGE_SETS.items():
        for variant in spec.get("variants", [{}]):
            for generation_prompt in (True, False):
                name = f"{set_name}{'' if generation_prompt else ' no_gen'}"
                if variant:
                    name += " " + json.dumps(variant)
                yield name, {"messages": messages, "add_generation_prompt": generation_prompt,
                             "bos_token": spec.get("bos_token"), "eos_token": spec.get("eos_token"),
                             "vars": variant}


def compare(label, source, template_path, case, binary, verbose):
    want = python_render(source, case)
    got = kvserve_render(binary, template_path, case)
    if want == got or (want[0] == "error" and got[0] in ("error", "parse-error")):
        if verbose:
            print(f"ok   {label}: {want[0]}" + (f" ({want[1]!r} / {got[1]!r})" if want[0] == "error" else ""))
        return True
    print(f"FAIL {label}")
    print(f"  python3-jinja2: {want[0]}   kvserve: {got[0]}")
    if want[0] == "ok" and got[0] == "ok":
        diff = difflib.unified_diff(want[1].splitlines(keepends=True),
                                    got[1].splitlines(keepends=True), "python3-jinja2", "kvserve")
        sys.stdout.writelines("    " + repr(line) + "\n" for line in diff)
    else:
        print(f"    python3-jinja2: {want[1]!r}\n    kvserve:        {got[1]!r}")
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kvchat_render", required=True)
    parser.add_argument("--templates")
    parser.add_argument("--snippets")
    parser.add_argument("--survey")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    print(f"python3-jinja2 {jinja2.__version__}")

    if args.survey:
        for path in sorted(glob.glob(os.path.join(args.survey, "*.jinja"))):
            with open(path, encoding="utf-8") as f:
                source = f.read()
            results = []
            for name, case in template_cases({"bos_token": "<s>", "eos_token": "</s>"}):
                want = python_render(source, case)
                got = kvserve_render(args.kvchat_render, path, case)
                results.append(want == got or
                               (want[0] == "error" and got[0] in ("error", "parse-error")))
                if not results[-1] and got[0] == "parse-error":
                    print(f"{os.path.basename(path)}: refused: {got[1].strip()}")
                    break
            print(f"{sum(results)}/{len(results)} {os.path.basename(path)}")
        return 0

    passed = failed = 0
    if args.templates:
        with open(os.path.join(args.templates, "README.md"), encoding="utf-8") as f:
            listed = f.read()
        on_disk = sorted(os.path.basename(p) for p in glob.glob(os.path.join(args.templates, "*.jinja")))
        for name in on_disk:
            if name not in FIXTURES or name not in listed:
                print(f"FAIL {name}: not in FIXTURES and templates/README.md")
                failed += 1
        for name in list(FIXTURES) + [None]:
            path = None if name is None else os.path.join(args.templates, name)
            source = CHATML
            if path is not None:
                with open(path, encoding="utf-8") as f:
                    source = f.read()
            spec = FIXTURES.get(name, {})
            outcomes = {}
            for case_name, case in template_cases(spec):
                ok = compare(f"{name or 'chatml (built in)'} / {case_name}", source, path, case,
                             args.kvchat_render, args.verbose)
                passed += ok
                failed += not ok
                outcome = python_render(source, case)[0]
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
            print(f"{name or 'chatml (built in)'}: {outcomes}")
            # A fixture that only ever fails would compare little: the plain cases must render.
            if outcomes.get("ok", 0) < 8:
                print(f"FAIL {name}: only {outcomes.get('ok', 0)} cases render in python3-jinja2")
                failed += 1
    if args.snippets:
        with open(args.snippets, encoding="utf-8") as f:
            snippets = json.load(f)
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            for snippet in snippets:
                path = os.path.join(tmp, "snippet.jinja")
                with open(path, "w", encoding="utf-8") as f:
                    f.write(snippet["template"])
                case = {"messages": snippet.get("messages", []), "add_generation_prompt": True,
                        "vars": snippet.get("vars", {})}
                ok = compare(f"snippet {snippet['name']}", snippet["template"], path, case,
                             args.kvchat_render, args.verbose)
                passed += ok
                failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


# The built-in ChatML template, as kvserve's DefaultChatMlTemplate() has it (a kvchat_render
# --chatml case renders kvserve's copy; this one is what python3-jinja2 renders).
CHATML = ("{%- for message in messages %}\n"
          "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}\n"
          "{%- endfor %}\n"
          "{%- if add_generation_prompt %}\n"
          "{{- '<|im_start|>assistant\\n' }}\n"
          "{%- endif %}\n")

if __name__ == "__main__":
    sys.exit(main())
