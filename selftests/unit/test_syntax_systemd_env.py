"""compliance/syntax/systemd_env.py: an EnvironmentFile= as systemd's env-file parser reads it.

The table was checked against systemd 252 in the lab's CT: the file below loaded by a
transient unit (`systemd-run --wait --pipe -p EnvironmentFile=... /usr/bin/env`) printed
exactly the assignments of the 252 column.
"""

from __future__ import annotations

import pytest

from compliance.syntax.systemd_env import env_file_assignments

FILE = """\
# a comment ending in a backslash \\
AFTER_COMMENT=seen
export EXPORTED=seen
A_CONT=one\\
two
B_DQ="x \\
y"
C_SQ='multi
line'
D_TRAIL=val<3 spaces>
  E_SPACE  =  spaced<2 spaces>
F.DOT=bad
G_ESC=a\\$b\\\\c
H_DQESC="a\\$b\\qc"
I_NOVAL
J_EMPTY=
K_MIX='a'"b"c
""".replace("<3 spaces>", "   ").replace("<2 spaces>", "  ")  # trailing, written out

READ_BY_252 = [
    (4, "A_CONT", "onetwo"),
    (6, "B_DQ", "x y"),
    (8, "C_SQ", "multi\nline"),
    (10, "D_TRAIL", "val"),
    (11, "E_SPACE", "spaced"),
    (13, "G_ESC", "a$b\\c"),
    (14, "H_DQESC", "a$b\\qc"),
    (16, "J_EMPTY", ""),
    (17, "K_MIX", "abc"),
]


def test_as_systemd_252_reads_it():
    assert env_file_assignments(FILE, 252) == READ_BY_252


@pytest.mark.parametrize("version", [254, 257, None])
def test_from_systemd_254_a_line_after_an_escaped_comment_is_its_own(version):
    assert env_file_assignments(FILE, version) == [(2, "AFTER_COMMENT", "seen"), *READ_BY_252]


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("A=1", [(1, "A", "1")]),  # no newline at the end
        ("A='open", [(1, "A", "open")]),  # an unclosed quote runs to the end
        ("A=1\r\nB=2", [(1, "A", "1"), (2, "B", "2")]),
        ("A=x\\ ", [(1, "A", "x ")]),  # an escaped space is kept
        ("; A=1\nB = 2 # not a comment", [(2, "B", "2 # not a comment")]),
        ("1A=x\nA-B=x\n=x\n", []),  # not names
        ("A=1\nA=2\n", [(1, "A", "1"), (2, "A", "2")]),  # every one, in order
    ],
)
def test_edges(text, read):
    assert env_file_assignments(text, 252) == read
