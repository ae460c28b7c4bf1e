"""The employee import file's parser (manual 4.2): encodings Excel writes in China, the
template's round trip, columns in any order, and each structural refusal with its rule."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.domain import employee_csv
from appliance.domain.employee_csv import COLUMNS, CsvRow, decode, parse, template

HEADER = ",".join(COLUMNS)


def _file(*lines: str, header: str = HEADER) -> str:
    return "\r\n".join([header, *lines]) + "\r\n"


def test_the_template_is_utf8_with_a_bom_and_parses_to_no_rows():
    data = template()
    assert data.startswith(b"\xef\xbb\xbf") and data.endswith(b"\r\n")
    assert parse(decode(data)) == ([], [])


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_the_encodings_excel_saves_in_china_decode_to_the_same_rows(encoding):
    text = _file("8001,张三,Pass-2024,13800000001,市场部,坐席|质检")
    rows, errors = parse(decode(text.encode(encoding)))
    assert errors == []
    assert rows == [CsvRow(2, "8001", "张三", "Pass-2024", "13800000001", "市场部", ["坐席", "质检"])]


def test_bytes_of_neither_encoding_are_refused():
    with pytest.raises(ValueError, match="neither UTF-8 nor GBK"):
        decode(b"\x80\x80\xff\xfe\xff")


def test_columns_may_come_in_any_order_and_cells_are_trimmed():
    header = "角色,所属组织,联络电话,密码,姓名,分机号,备注"
    rows, errors = parse(_file(" 坐席 | ,市场部 , ,, 李四 ,8002,extra", header=header))
    assert errors == []
    assert rows == [CsvRow(2, "8002", "李四", "", "", "市场部", ["坐席"])]


def test_blank_lines_are_skipped_and_lines_keep_their_numbers():
    rows, errors = parse(_file("8001,A,,,市场部,", ",,,,,", "", "8003,C,,,市场部,"))
    assert errors == []
    assert [(r.line, r.extension) for r in rows] == [(2, "8001"), (5, "8003")]


def test_a_row_without_a_required_cell_names_the_first_missing_column():
    rows, errors = parse(_file("8001,,,,市场部,", ",B,,,,", "8003,C,,,市场部,"))
    assert [r.extension for r in rows] == ["8003"]
    assert [(e.line, e.code, e.column) for e in errors] == [
        (2, "required", "姓名"),
        (3, "required", "分机号"),
    ]
    assert "所属组织" in errors[1].reason  # every missing column is said, the first is named


def test_an_empty_file_and_missing_columns_are_refused_with_their_rule():
    assert parse("") == ([], [employee_csv.RowError(1, "the file is empty", "empty_file")])
    rows, errors = parse("分机号,姓名\r\n8001,A\r\n")
    assert rows == []
    [error] = errors
    assert (error.line, error.code, error.params) == (1, "missing_columns", {"columns": ["密码", "联络电话", "所属组织", "角色"]})


def test_more_rows_than_the_limit_stop_the_parse(monkeypatch):
    monkeypatch.setattr(employee_csv, "MAX_ROWS", 3)
    rows, errors = parse(_file(*(f"{8000 + i},N{i},,,市场部," for i in range(5))))
    assert len(rows) == 3
    assert [(e.line, e.code, e.params) for e in errors] == [(5, "too_many_rows", {"max": 3})]


def test_an_unclosed_quote_swallows_the_rest_into_one_refused_row_not_a_crash():
    rows, errors = parse(_file('8001,"A,,,市场部,', "8002,B,,,市场部,"))
    assert rows == []  # neither 8001 nor 8002 is imported from a file that broke there
    assert [(e.line, e.code, e.column) for e in errors] == [(3, "required", "所属组织")]


cell = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="|"), max_size=12)


@given(st.lists(st.tuples(st.from_regex(r"[0-9]{3,6}", fullmatch=True), cell, cell, cell, cell,
                          st.lists(cell, max_size=3)), max_size=8))
def test_what_a_spreadsheet_writes_is_read_back(people):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for extension, name, password, phone, org, roles in people:
        writer.writerow([extension, name, password, phone, org, "|".join(roles)])
    rows, errors = parse(decode(out.getvalue().encode("utf-8")))
    expected = [
        (ext, name.strip(), password.strip(), phone.strip(), org.strip(), [r.strip() for r in roles if r.strip()])
        for ext, name, password, phone, org, roles in people
        if name.strip() and org.strip()
    ]
    got = [(r.extension, r.name, r.password, r.phone, r.organization, r.roles) for r in rows]
    assert got == expected
    assert len(errors) == len(people) - len(expected)
