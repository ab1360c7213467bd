// The value model and Python's text operations it rests on.
#include "engine/chat/jinja_value.h"

#include <limits>
#include <string>

#include "engine/chat/jinja_json.h"
#include "engine/chat/jinja_text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kvserve::jinja {
namespace {

TEST(JinjaValueTest, FloatReprIsPythons) {
  EXPECT_EQ(FloatRepr(1.0), "1.0");
  EXPECT_EQ(FloatRepr(0.1), "0.1");
  EXPECT_EQ(FloatRepr(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(FloatRepr(1e16), "1e+16");
  EXPECT_EQ(FloatRepr(1234567890123456.0), "1234567890123456.0");
  EXPECT_EQ(FloatRepr(0.0001), "0.0001");
  EXPECT_EQ(FloatRepr(0.00001), "1e-05");
  EXPECT_EQ(FloatRepr(-2.5e-300), "-2.5e-300");
  EXPECT_EQ(FloatRepr(-0.0), "-0.0");
  EXPECT_EQ(FloatRepr(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(FloatRepr(std::nan("")), "nan");
  EXPECT_EQ(FloatRepr(123.456), "123.456");
}

TEST(JinjaValueTest, StrAndRepr) {
  EXPECT_EQ(ToStr(Value()), "");
  EXPECT_EQ(Repr(Value()), "Undefined");
  EXPECT_EQ(ToStr(Value::None()), "None");
  EXPECT_EQ(ToStr(Value::Bool(false)), "False");
  EXPECT_EQ(ToStr(Value::String("it's")), "it's");
  EXPECT_EQ(Repr(Value::String("it's")), "\"it's\"");
  EXPECT_EQ(Repr(Value::String("a'\"\n\\")), "'a\\'\"\\n\\\\'");
  EXPECT_EQ(ToStr(Value::Tuple({Value::Int(1)})), "(1,)");
  EXPECT_EQ(ToStr(Value::List({Value::String("a"), Value::Float(2)})), "['a', 2.0]");
}

TEST(JinjaValueTest, EqualityAndOrderingArePythons) {
  EXPECT_TRUE(Equals(Value::Int(1), Value::Float(1.0)));
  EXPECT_TRUE(Equals(Value::Bool(true), Value::Int(1)));
  EXPECT_FALSE(Equals(Value::String("1"), Value::Int(1)));
  EXPECT_FALSE(Equals(Value::List({}), Value::Tuple({})));
  EXPECT_TRUE(Equals(Value(), Value::Undefined("other hint")));
  Dict a, b;
  a.Set("x", Value::Int(1));
  a.Set("y", Value::Int(2));
  b.Set("y", Value::Int(2));
  b.Set("x", Value::Int(1));
  EXPECT_TRUE(Equals(Value::FromDict(a), Value::FromDict(b)));
  EXPECT_EQ(*Compare(Value::String("a"), Value::String("b")), -1);
  EXPECT_EQ(*Compare(Value::List({Value::Int(1), Value::Int(3)}), Value::List({Value::Int(1)})), 1);
  EXPECT_FALSE(Compare(Value::Int(1), Value::String("a")).ok());
}

TEST(JinjaValueTest, DictsKeepInsertionOrderAndKeyAsPythonHashes) {
  Dict d;
  d.Set("b", Value::Int(1));
  d.Set("a", Value::Int(2));
  d.Set("b", Value::Int(3));  // replaced in place
  EXPECT_TRUE(d.Set(Value::Int(1), Value::String("one")));
  EXPECT_FALSE(d.Set(Value::List({}), Value::None()));  // unhashable
  EXPECT_EQ(ToStr(Value::FromDict(d)), "{'b': 3, 'a': 2, 1: 'one'}");
  ASSERT_NE(d.Find(Value::Float(1.0)), nullptr);  // 1.0 == 1 == True, one key
  EXPECT_EQ(d.Find(Value::Bool(true))->string_value(), "one");
  EXPECT_EQ(d.Find(Value::String("1")), nullptr);
}

TEST(JinjaValueTest, LengthAndIterationCountCodePoints) {
  EXPECT_EQ(*Length(Value::String("héllo")), 5);
  EXPECT_EQ(*Length(Value()), 0);
  EXPECT_FALSE(Length(Value::Int(3)).ok());
  absl::StatusOr<ValueList> chars = Iterate(Value::String("日本"));
  ASSERT_TRUE(chars.ok());
  ASSERT_EQ(chars->size(), 2u);
  EXPECT_EQ((*chars)[1].string_value(), "本");
  EXPECT_FALSE(Iterate(Value::None()).ok());
}

TEST(JinjaTextTest, PythonWhitespaceStripAndSplit) {
  // str.strip() strips Unicode whitespace: U+3000 and U+00A0 too, not U+200B.
  EXPECT_EQ(PyStrip("\xe3\x80\x80 a\xc2\xa0", std::nullopt, true, true), "a");
  EXPECT_EQ(PyStrip("\xe2\x80\x8b"
                    "a",
                    std::nullopt, true, true),
            "\xe2\x80\x8b"
            "a");
  EXPECT_EQ(PyStrip("xyaxy", std::string("yx"), true, false), "axy");
  EXPECT_THAT(PySplitWhitespace(" a \t b\n", -1), ::testing::ElementsAre("a", "b"));
  EXPECT_THAT(PySplit("a--b--", "--", -1), ::testing::ElementsAre("a", "b", ""));
  EXPECT_THAT(PyRSplit("a-b-c", "-", 1), ::testing::ElementsAre("a-b", "c"));
  EXPECT_THAT(PySplitLines("a\r\nb\rc\n"), ::testing::ElementsAre("a", "b", "c"));
}

TEST(JinjaTextTest, CaseMapping) {
  EXPECT_EQ(PyUpper("école ünï"), "ÉCOLE ÜNÏ");
  EXPECT_EQ(PyLower("ÀB"), "àb");
  EXPECT_EQ(PyTitle("hello wORLD 3rd"), "Hello World 3Rd");
  EXPECT_EQ(JinjaTitle("hello wORLD 3rd"), "Hello World 3rd");
  EXPECT_EQ(PyCapitalize("hELLO"), "Hello");
  EXPECT_TRUE(PyIsLower("abc1"));
  EXPECT_FALSE(PyIsLower("123"));
}

TEST(JinjaTextTest, InvalidUtf8PassesThroughByteByByte) {
  const std::string bad = "a\xff\xc3";
  EXPECT_EQ(CodePointCount(bad), 3);
  EXPECT_EQ(PyUpper(bad), "A\xff\xc3");
  EXPECT_EQ(PyStrRepr(bad), "'a\\xff\\xc3'");
}

TEST(JinjaJsonTest, RoundTripsJsonInPythonsFormat) {
  const nlohmann::ordered_json json = nlohmann::ordered_json::parse(
      R"({"z": 1, "a": [1.5, -2, true, null, "x\u0001"], "big": 18446744073709551615})");
  const Value v = FromJson(json);
  ASSERT_TRUE(v.is_dict());
  EXPECT_EQ(v.dict().entries()[0].first.string_value(), "z");  // order kept
  absl::StatusOr<std::string> text = DumpJson(v, {});
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text,
            R"({"z": 1, "a": [1.5, -2, true, null, "x\u0001"], "big": 1.8446744073709552e+19})");
  JsonDumpOptions indent;
  indent.indent = "\t";
  EXPECT_EQ(*DumpJson(FromJson(nlohmann::ordered_json::parse(R"({"a": [1]})")), indent),
            "{\n\t\"a\": [\n\t\t1\n\t]\n}");
  EXPECT_FALSE(DumpJson(Value::NewNamespace({}), {}).ok());
}

}  // namespace
}  // namespace kvserve::jinja
