#pragma once
// Benchmark helpers for synthetic models: N receptor–ligand pairs, and the [[constant]] block
// from "name|value|unit" rows.

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

/// TOML for `pairs` receptor–ligand pairs R<i>:L<i> (every third receptor inhibitory) with one Kd
/// (nM); `nkExpression`/`tumourExpression`, if given, receive matching `expression` entries
/// (`copies` molecules per cell each).
inline std::string benchPairs(int pairs, double kdNm, std::string* nkExpression = nullptr, std::string* tumourExpression = nullptr,
                              double copies = 1e4) {
    std::string s;
    const std::string kd = std::to_string(kdNm), n = std::to_string(copies);
    for (int i = 0; i < pairs; ++i) {
        const std::string r = "R" + std::to_string(i), l = "L" + std::to_string(i);
        s += "[[receptor]]\nname = \"" + r + "\"\nclass = \"" + (i % 3 == 2 ? "inhibitory" : "activating") +
             "\"\nweight = { value = 1, unit = \"1\", source = \"assumption: benchmark\" }\n";
        s += "[[ligand]]\nname = \"" + l + "\"\nform = \"membrane\"\ncategory = \"activating_ligand\"\n";
        s += "[[interaction]]\nname = \"" + r + ":" + l + "\"\nreceptor = \"" + r + "\"\nligand = \"" + l + "\"\nkd = { value = " + kd +
             ", unit = \"nM\", source = \"assumption: benchmark\" }\n";
        if (nkExpression) *nkExpression += "\"" + r + "\" = { value = " + n + ", unit = \"molecule/cell\", source = \"assumption: benchmark\" }\n";
        if (tumourExpression) *tumourExpression += "\"" + l + "\" = { value = " + n + ", unit = \"molecule/cell\", source = \"assumption: benchmark\" }\n";
    }
    return s;
}
