// Filters, tests, string/dict methods and globals: what chat templates call.
#include "engine/chat/jinja_filters.h"

#include <string>

#include "engine/chat/jinja_predicates.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/chat/jinja_test_util.h"

namespace kvserve::jinja {
namespace {

using ::testing::HasSubstr;

std::string Render(absl::string_view source, absl::string_view vars = "{}") {
  absl::StatusOr<std::string> text = RenderJinja(source, vars);
  EXPECT_TRUE(text.ok()) << source << ": " << text.status();
  return text.ok() ? *text : "<error>";
}

std::string RenderErrorMessage(absl::string_view source, absl::string_view vars = "{}") {
  absl::StatusOr<std::string> text = RenderJinja(source, vars);
  EXPECT_FALSE(text.ok()) << source << " rendered " << *text;
  return text.ok() ? "" : std::string(text.status().message());
}

TEST(JinjaFiltersTest, TojsonIsHuggingFacesJsonDumps) {
  const char* vars = R"({"d": {"b": [1, 2.5, null, true], "a": {"x": "é\n\"<>&"}, "c": {}}})";
  EXPECT_EQ(Render("{{ d | tojson }}", vars),
            R"({"b": [1, 2.5, null, true], "a": {"x": "é\n\"<>&"}, "c": {}})");
  EXPECT_EQ(Render("{{ d.b | tojson(indent=2) }}", vars), "[\n  1,\n  2.5,\n  null,\n  true\n]");
  EXPECT_EQ(Render("{{ d | tojson(sort_keys=true, separators=(',', ':')) }}", vars),
            R"({"a":{"x":"é\n\"<>&"},"b":[1,2.5,null,true],"c":{}})");
  EXPECT_EQ(Render("{{ 'é😀' | tojson(ensure_ascii=true) }}"), R"("\u00e9\ud83d\ude00")");
  EXPECT_EQ(Render("{{ [1.0, 1e100, 1e-7, 0.1] | tojson }}"), "[1.0, 1e+100, 1e-07, 0.1]");
  EXPECT_EQ(Render("{{ {} | tojson(indent=4) }}{{ [] | tojson(indent=4) }}"), "{}[]");
  EXPECT_THAT(RenderErrorMessage("{{ nope | tojson }}"),
              HasSubstr("Object of type Undefined is not JSON serializable"));
}

TEST(JinjaFiltersTest, StringFilters) {
  EXPECT_EQ(Render("[{{ '  a b \n' | trim }}][{{ 'xxaxx' | trim('x') }}]"), "[a b][a]");
  EXPECT_EQ(
      Render("{{ 'hello WORLD' | upper }} {{ 'HeLLo' | lower }} {{ 'hELLO w' | capitalize }}"),
      "HELLO WORLD hello Hello w");
  EXPECT_EQ(Render("{{ 'hello wOrld-foo(bar' | title }}"), "Hello World-Foo(Bar");
  EXPECT_EQ(Render("{{ 'aaa' | replace('a', 'b', 2) }} {{ 'abc' | replace('', '-') }}"),
            "bba -a-b-c-");
  EXPECT_EQ(Render("{{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}"),
            "a\n  b\n\n  c|  a\n  b");
  EXPECT_EQ(Render("{{ '<a href=\"x\">&\\'' | e }}"), "&lt;a href=&#34;x&#34;&gt;&amp;&#39;");
  EXPECT_EQ(Render("{{ 12 | string ~ 'x' }} {{ 'ab' | list }} {{ 'one two  three' | wordcount }}"),
            "12x ['a', 'b'] 3");
}

TEST(JinjaFiltersTest, DefaultAndConversions) {
  EXPECT_EQ(
      Render("{{ nope | default('d') }} [{{ '' | default('d') }}] {{ '' | default('d', true) }} "
             "{{ none | default('d') }} {{ nope | d }}|"),
      "d [] d None |");
  EXPECT_EQ(
      Render("{{ '42' | int + 1 }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} "
             "{{ 3.9 | int }} {{ '2.5' | float }} {{ 'x' | float }} {{ '0x1A' | int(0, 16) }}"),
      "43 4 0 7 3 2.5 0.0 26");
  EXPECT_EQ(Render("{{ 2.5 | round }} {{ 3.5 | round }} {{ 2.675 | round(2) }} "
                   "{{ 2.1 | round(0, 'ceil') }} {{ -3 | abs }}"),
            "2.0 4.0 2.67 3.0 3");
}

TEST(JinjaFiltersTest, SequenceFilters) {
  const char* vars = R"({"ms": [{"role": "user", "content": "u1"},
                                {"role": "assistant", "content": "a1"},
                                {"role": "user", "content": "u2"}]})";
  EXPECT_EQ(Render("{{ ms | selectattr('role', 'equalto', 'user') | map(attribute='content') "
                   "| join(',') }}",
                   vars),
            "u1,u2");
  EXPECT_EQ(Render("{{ ms | rejectattr('role', 'eq', 'user') | list | length }}", vars), "1");
  EXPECT_EQ(Render("{{ ms | map(attribute='missing', default='-') | join }}", vars), "---");
  EXPECT_EQ(
      Render("{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3] | reject('gt', 1) | list }}"),
      "[1, 3] [1]");
  EXPECT_EQ(
      Render("{{ ['a', 'b'] | map('upper') | join }} {{ [[1, 2]] | map(attribute='1') | list }}"),
      "AB [2]");
  EXPECT_EQ(
      Render(
          "{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} [{{ [] | first }}] "
          "{{ [3, 1, 2] | sort }} {{ ['b', 'A', 'a'] | sort }} {{ ['a', 'A'] | unique | list }}"),
      "1 3 [] [1, 2, 3] ['A', 'a', 'b'] ['a']");
  EXPECT_EQ(Render("{{ {'b': 1, 'a': 2} | dictsort }} {{ {'a': 1} | items | list }}"),
            "[('a', 2), ('b', 1)] [('a', 1)]");
  EXPECT_EQ(Render("{{ [3, 1] | min }} {{ [3, 1] | max }} {{ [1, 2] | sum }} {{ 'ab' | reverse }}"),
            "1 3 3 ba");
  EXPECT_EQ(Render("{{ none | selectattr('type') | list }}"), "[]");
  EXPECT_THAT(RenderErrorMessage("{{ 1 | items }}"),
              HasSubstr("Can only get item pairs from a mapping"));
}

TEST(JinjaFiltersTest, Tests) {
  EXPECT_EQ(Render("{% for v in [none, true, 1, 1.5, 'a', [1], {'a': 1}, nope] %}"
                   "{{ v is none }}{{ v is boolean }}{{ v is integer }}{{ v is float }}"
                   "{{ v is number }}{{ v is string }}{{ v is mapping }}{{ v is iterable }}"
                   "{{ v is sequence }}{{ v is defined }}|{% endfor %}"),
            "TrueFalseFalseFalseFalseFalseFalseFalseFalseTrue|"
            "FalseTrueFalseFalseTrueFalseFalseFalseFalseTrue|"
            "FalseFalseTrueFalseTrueFalseFalseFalseFalseTrue|"
            "FalseFalseFalseTrueTrueFalseFalseFalseFalseTrue|"
            "FalseFalseFalseFalseFalseTrueFalseTrueTrueTrue|"
            "FalseFalseFalseFalseFalseFalseFalseTrueTrueTrue|"
            "FalseFalseFalseFalseFalseFalseTrueTrueTrueTrue|"
            "FalseFalseFalseFalseFalseFalseFalseTrueTrueFalse|");
  EXPECT_EQ(Render("{{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 3 is eq 3 }} {{ 1 is lt 2 }} "
                   "{{ 1 is in [1] }} {{ true is true }} {{ 1 is true }} {{ none is not none }} "
                   "{{ 'abc' is lower }} {{ 'upper' is filter }} {{ range is callable }}"),
            "True True True True True True False False True True True");
  EXPECT_NE(FindTest("defined"), nullptr);
  EXPECT_EQ(FindTest("escaped"), nullptr);
  EXPECT_TRUE(IsJinjaTest("escaped"));
  EXPECT_FALSE(IsJinjaFilter("from_json"));
  EXPECT_TRUE(IsJinjaFilter("wordwrap"));
  EXPECT_EQ(FindFilter("wordwrap"), nullptr);
}

TEST(JinjaFiltersTest, StringMethods) {
  EXPECT_EQ(Render("[{{ '  a  '.strip() }}][{{ '\n\na\n'.lstrip('\n') }}][{{ ' a '.rstrip() }}]"),
            "[a][a\n][ a]");
  EXPECT_EQ(Render("{{ 'a b  c'.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.rsplit(',', 1) }} "
                   "{{ '  a b  '.split(None, 1) }}"),
            "['a', 'b', 'c'] ['a', 'b', '', 'c'] ['a,b', 'c'] ['a', 'b  ']");
  // Qwen3's reasoning split.
  EXPECT_EQ(
      Render("{% set c = m.split('</think>')[-1].lstrip('\\n') %}"
             "{% set r = m.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}"
             "[{{ r }}][{{ c }}]",
             R"({"m": "<think>\nstep\n</think>\n\nanswer"})"),
      "[step][answer]");
  EXPECT_EQ(
      Render("{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} "
             "{{ 'hé-llo'.find('l') }} {{ 'hello'.count('l') }} {{ 'a{}b{x}'.format(1, x=2) }}"),
      "True True 3 2 a1b2");
  EXPECT_EQ(Render("{{ \"they're\".title() }} {{ 'ab'.upper() }} {{ ', '.join(['a', 'b']) }}"),
            "They'Re AB a, b");
  EXPECT_THAT(RenderErrorMessage("{{ 'x'.zfill(3) }}"),
              HasSubstr("'str object' has no attribute 'zfill'"));
  EXPECT_THAT(RenderErrorMessage("{{ '{:>3}'.format(1) }}"), HasSubstr("format specs"));
}

TEST(JinjaFiltersTest, DictMethodsWinOverKeysForAttributesButNotForItems) {
  const char* vars = R"({"d": {"items": 3, "a": 1}})";
  EXPECT_EQ(Render("{{ d.items() | list }} {{ d['items'] }} {{ d.get('a') }} {{ d.get('z', 0) }} "
                   "{{ d.keys() | list }} {{ d.values() | list }}",
                   vars),
            "[('items', 3), ('a', 1)] 3 1 0 ['items', 'a'] [3, 1]");
}

TEST(JinjaFiltersTest, Globals) {
  EXPECT_EQ(
      Render("{{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ range(3, 0, -1) | list }}"),
      "[0, 1, 2] [1, 4, 7] [3, 2, 1]");
  EXPECT_THAT(
      RenderErrorMessage("{{ range(1000000) | length }}"),
      HasSubstr("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000)."));
  EXPECT_EQ(Render("{{ dict(a=1) }} {{ namespace(a=1).a }}"), "{'a': 1} 1");
  EXPECT_THAT(RenderErrorMessage("{{ cycler(1, 2) }}"), HasSubstr("'cycler' is not supported"));
}

}  // namespace
}  // namespace kvserve::jinja
