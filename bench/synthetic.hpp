#pragma once
// Benchmark helper: the [[constant]] block a synthetic model needs, from "name|value|unit" rows.

#include <string>
#include <vector>

inline std::string benchConstants(const std::vector<const char*>& rows) {
    std::string s;
    for (const char* c : rows) {
        const std::string t(c);
        const auto a = t.find('|'), b = t.rfind('|');
        s += "[[constant]]\nname = \"" + t.substr(0, a) + "\"\nvalue = { value = " + t.substr(a + 1, b - a - 1) + ", unit = \"" +
             t.substr(b + 1) + "\", source = \"assumption: benchmark\" }\n";
    }
    return s;
}
