# class: output
# args: stats km --data tests/data/stats/bad-nul-group.csv --time time --event status --group x
# exit: 2
# expect: nkscape: error: tests/data/stats/bad-nul-group.csv:2: column 'x': the group contains the control character U+0000 at byte 2; group names must be printable
# must: file:line, column 'x': a control character, refused or escaped, never raw
# why: a NUL byte in a group name
