//! List files: every row error with its file, line and column; comments, blank lines, the
//! header, CRLF, byte-order marks and quoted fields; rejected rows and their accounting.

mod common;

use std::io::{self, BufRead, BufReader, Read};

use common::{build, date, imei, imsi, range, sample_rules, tac};
use imei_index::list::{ListError, ListReader, RowError, format_row, split_record};
use imei_index::{Entry, FieldError, IdError, IndexBuilder, Reason, Rule, RuleKind, Status};

/// Reads every row of a list given as text.
fn read(text: &str) -> Vec<Result<Rule, ListError>> {
    ListReader::new("list.csv", text.as_bytes()).collect()
}

/// Reads a one-row list and returns its error.
fn row_error(line: &str) -> ListError {
    let mut rows = read(line);
    assert_eq!(rows.len(), 1, "{line:?}");
    match rows.remove(0) {
        Ok(rule) => panic!("{line:?} parsed as {rule:?}"),
        Err(e) => e,
    }
}

/// Checks an error's place, and that its message names the file, line and column.
fn assert_at(err: &ListError, line: u64, column: usize) {
    assert_eq!((err.line, err.column), (line, column), "{err}");
    assert_eq!(err.source_name, "list.csv");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("list.csv:{line}:{column}: ")),
        "{msg}"
    );
    assert!(!err.is_fatal());
}

/// The character at a 1-based column of a line.
fn char_at(line: &str, column: usize) -> Option<char> {
    line.chars().nth(column - 1)
}

// ---------------------------------------------------------------------------------------
// Every row error.
// ---------------------------------------------------------------------------------------

#[test]
fn a_bad_imei_points_at_the_bad_character() {
    for (line, ch) in [
        ("3520990017614x,blocked", 'x'),
        ("  35-209900-17614X-1 ,blocked", 'X'),
        ("35209900000000..3520990000000y,blocked", 'y'),
        ("3520990000000z..35209900000009,blocked", 'z'),
        ("-35209900176148,blocked", '-'),
        ("\"3520990017614x\",blocked", 'x'),
        ("é35209900176148,blocked", 'é'),
    ] {
        let err = row_error(line);
        assert!(
            matches!(
                err.kind,
                RowError::Imei(IdError::NonDigit { .. } | IdError::MisplacedSeparator { .. })
            ),
            "{line}: {err}"
        );
        assert_eq!(
            char_at(line, err.column),
            Some(ch),
            "{line}: column {}",
            err.column
        );
        assert_at(&err, 1, err.column);
        assert!(err.to_string().contains("the imei field"), "{err}");
        assert_eq!(err.row, line);
    }
}

#[test]
fn a_bad_imei_length_or_check_digit_points_at_the_identifier() {
    let err = row_error("3520990017614,blocked");
    assert!(matches!(
        err.kind,
        RowError::Imei(IdError::Length { found: 13, .. })
    ));
    assert_at(&err, 1, 1);

    let err = row_error("  352099001761480,blocked");
    let expected = imei("35209900176148").check_digit();
    assert!(matches!(
        err.kind,
        RowError::Imei(IdError::CheckDigit { expected: e, found: 0 }) if e == expected
    ));
    assert_at(&err, 1, 3);

    // In a range, the column of the end that is wrong.
    let line = "35209900000000..352099000000001,blocked";
    let err = row_error(line);
    assert!(
        matches!(err.kind, RowError::Imei(IdError::CheckDigit { .. })),
        "{err}"
    );
    assert_at(&err, 1, 17);

    // Nine digits are neither a TAC nor an IMEI.
    let err = row_error("352099001,blocked");
    assert!(matches!(
        err.kind,
        RowError::Imei(IdError::Length { found: 9, .. })
    ));
    // An empty imei field.
    let err = row_error(",blocked");
    assert!(
        matches!(err.kind, RowError::Imei(IdError::Empty { .. })),
        "{err}"
    );
    assert_at(&err, 1, 1);
}

#[test]
fn a_range_that_ends_before_it_starts_is_an_error() {
    let err = row_error("35209900000009..35209900000000,blocked");
    assert!(matches!(
        err.kind,
        RowError::Field(FieldError::RangeOrder { .. })
    ));
    assert_at(&err, 1, 1);
    assert!(
        err.to_string().contains("must not be after its last"),
        "{err}"
    );
}

#[test]
fn bad_status_reason_date_and_imsi_fields_point_at_the_field() {
    type Is = fn(&RowError) -> bool;
    let cases: [(&str, usize, Is); 11] = [
        (
            "35209900,maybe",
            10,
            |k| matches!(k, RowError::Field(FieldError::Status(s)) if s == "maybe"),
        ),
        (
            // Any text is a reason, but not one with a control character.
            "35209900, blocked ,mis\u{7}placed",
            20,
            |k| matches!(k, RowError::Field(FieldError::ReasonText(s)) if s == "mis\u{7}placed"),
        ),
        (
            "35209900,blocked,,,,2024-02-30",
            21,
            |k| matches!(k, RowError::Field(FieldError::Date(s)) if s == "2024-02-30"),
        ),
        (
            "35209900,blocked,,,,,Local",
            22,
            |k| matches!(k, RowError::Field(FieldError::Source(s)) if s == "Local"),
        ),
        ("35209900,tracked>blocked", 10, |k| {
            matches!(k, RowError::Field(FieldError::EarlierWithoutStart))
        }),
        (
            "35209900,blocked,,,2024-02-30",
            20,
            |k| matches!(k, RowError::Field(FieldError::Date(s)) if s == "2024-02-30"),
        ),
        ("35209900,blocked,,,21/05/2024", 20, |k| {
            matches!(k, RowError::Field(FieldError::Date(_)))
        }),
        ("35209900,blocked,,,1969-12-31", 20, |k| {
            matches!(k, RowError::Field(FieldError::Date(_)))
        }),
        ("352099001761481,blocked,,0010,", 26, |k| {
            matches!(k, RowError::Imsi(IdError::Length { found: 4, .. }))
        }),
        ("352099001761481,blocked,,1234567890123456,", 26, |k| {
            matches!(k, RowError::Imsi(IdError::Length { found: 16, .. }))
        }),
        ("352099001761481,blocked,,40468x,", 26, |k| {
            matches!(k, RowError::Imsi(IdError::NonDigit { ch: 'x', .. }))
        }),
    ];
    for (line, column, is) in cases {
        let err = row_error(line);
        assert!(is(&err.kind), "{line}: {:?}", err.kind);
        assert_at(&err, 1, column);
    }
}

#[test]
fn every_status_word_is_accepted_in_any_case() {
    for (word, status) in [
        ("blocked", Status::Blocked),
        ("black", Status::Blocked),
        ("blacklisted", Status::Blocked),
        ("prohibited", Status::Blocked),
        ("tracked", Status::Tracked),
        ("grey", Status::Tracked),
        ("gray", Status::Tracked),
        ("greylisted", Status::Tracked),
        ("tracking", Status::Tracked),
        ("allowed", Status::Allowed),
        ("white", Status::Allowed),
        ("whitelisted", Status::Allowed),
        ("permitted", Status::Allowed),
    ] {
        for form in [word.to_string(), word.to_uppercase(), format!(" {word}\t")] {
            let rows = read(&format!("35209900,{form}\n"));
            assert_eq!(rows[0].as_ref().unwrap().entry.status, status, "{form}");
        }
    }
    for reason in Reason::ALL {
        let rows = read(&format!(
            "35209900,blocked,{}\n",
            reason.as_str().to_uppercase()
        ));
        assert_eq!(
            rows[0].as_ref().unwrap().entry.reasons.known(),
            Some(reason)
        );
    }
}

#[test]
fn a_row_without_a_status_is_an_error() {
    for (line, column) in [
        ("35209900", 9),
        ("35209900,", 10),
        ("35209900,,stolen", 10),
        // A blank field starts where its blanks end.
        ("35209900, ,stolen", 11),
    ] {
        let err = row_error(line);
        assert!(matches!(err.kind, RowError::MissingStatus), "{line}: {err}");
        assert_at(&err, 1, column);
        assert!(err.to_string().contains("imei,status"), "{err}");
    }
}

#[test]
fn a_row_with_too_many_fields_points_at_the_first_extra_one() {
    let line = "35209900,blocked,stolen,,2024-05-21,,local,extra,more";
    let err = row_error(line);
    assert!(
        matches!(err.kind, RowError::TooManyFields { found: 9 }),
        "{err}"
    );
    assert_at(&err, 1, 44);
    assert_eq!(char_at(line, 44), Some('e'));
    let err = row_error("35209900,blocked,,,,,,");
    assert!(matches!(err.kind, RowError::TooManyFields { found: 8 }));
    assert_at(&err, 1, 23);
    assert!(err.to_string().contains("8 fields"), "{err}");
}

#[test]
fn quote_errors_point_at_the_quote_or_the_stray_text() {
    let err = row_error("35209900,\"blocked");
    assert!(matches!(err.kind, RowError::UnterminatedQuote));
    assert_at(&err, 1, 10);
    let line = "35209900,\"blocked\"ly";
    let err = row_error(line);
    assert!(matches!(err.kind, RowError::TextAfterQuote));
    assert_at(&err, 1, 19);
    assert_eq!(char_at(line, 19), Some('l'));
}

#[test]
fn a_line_that_is_not_utf8_points_at_the_bad_byte() {
    let data = b"# comment\n35209900,bl\xffocked\n35209901,blocked\n";
    let rows: Vec<_> = ListReader::new("list.csv", &data[..]).collect();
    assert_eq!(rows.len(), 2);
    let err = rows[0].as_ref().unwrap_err();
    assert!(
        matches!(
            err.kind,
            RowError::NotUtf8 {
                offset: 11,
                byte: 0xff,
                ..
            }
        ),
        "{err}"
    );
    assert_at(err, 2, 12);
    assert_eq!(err.row, "35209900,bl\u{fffd}ocked");
    assert_eq!(err.row_bytes(), b"35209900,bl\xffocked");
    // The message names the byte, so that it can be found in a hex editor.
    assert!(err.to_string().contains("byte 0xFF"), "{err}");
    // Reading goes on with the next line.
    assert_eq!(rows[1].as_ref().unwrap().kind(), RuleKind::Tac);

    // Columns count characters before the bad byte, not bytes.
    let data = "35209900,é"
        .bytes()
        .chain([0xc3, b'\n'])
        .collect::<Vec<u8>>();
    let rows: Vec<_> = ListReader::new("list.csv", &data[..]).collect();
    let err = rows[0].as_ref().unwrap_err();
    assert!(
        matches!(
            err.kind,
            RowError::NotUtf8 {
                offset: 11,
                byte: 0xc3,
                ..
            }
        ),
        "{err}"
    );
    assert_at(err, 1, 11);
    assert!(err.to_string().contains("byte 0xC3"), "{err}");
}

#[test]
fn comments_are_skipped_as_bytes_whatever_their_encoding() {
    // Windows-1252 (é = 0xE9), an invalid UTF-8 sequence, and a lone continuation byte, in
    // comment lines of a list and of a delta list: none of them is a row.
    let comments: &[&[u8]] = &[
        b"# Liste nationale r\xe9vis\xe9e\n",
        b"  \t# \xc3\x28 broken sequence\r\n",
        b"#\x80\n",
    ];
    let mut list = Vec::new();
    let mut delta = b"op,imei,status\n".to_vec();
    for c in comments {
        list.extend_from_slice(c);
        delta.extend_from_slice(c);
    }
    list.extend_from_slice(b"imei,status\n35209900,blocked\n");
    delta.extend_from_slice(b"add,35209900,blocked\n");
    let mut reader = ListReader::new("list.csv", &list[..]);
    let rules: Vec<Rule> = reader.by_ref().map(Result::unwrap).collect();
    assert_eq!(
        rules,
        [Rule::tac(tac("35209900"), Entry::new(Status::Blocked))]
    );
    assert_eq!(reader.rows(), 1);
    let changes: Vec<_> = imei_index::list::DeltaReader::new("delta.csv", &delta[..])
        .map(Result::unwrap)
        .collect();
    assert_eq!(changes.len(), 1);

    // The same bytes in a data row are an error at the byte, naming it.
    let rows: Vec<_> =
        ListReader::new("list.csv", &b"35209900,blocked # r\xe9vis\xe9\n"[..]).collect();
    let err = rows[0].as_ref().unwrap_err();
    assert!(
        matches!(
            err.kind,
            RowError::NotUtf8 {
                offset: 20,
                byte: 0xe9,
                ..
            }
        ),
        "{err}"
    );
    assert_at(err, 1, 21);
    assert!(err.to_string().contains("byte 0xE9"), "{err}");
}

#[test]
fn a_rejected_row_keeps_its_bytes_as_read() {
    let data: &[u8] =
        b"\xef\xbb\xbf3520990x,blocked\r\n35209900,bloqu\xe9\r\n35209900,\xc3\x28\n35209900,maybe";
    let rows: Vec<_> = ListReader::new("list.csv", data).collect();
    let raw: Vec<&[u8]> = rows
        .iter()
        .map(|r| r.as_ref().unwrap_err().row_bytes())
        .collect();
    // Without line ends, and without the first line's byte-order mark; every other byte kept.
    assert_eq!(
        raw,
        [
            &b"3520990x,blocked"[..],
            b"35209900,bloqu\xe9",
            b"35209900,\xc3\x28",
            b"35209900,maybe"
        ]
    );
    for r in &rows {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.row, String::from_utf8_lossy(e.row_bytes()));
    }
    // A delta list's rejected rows too.
    let rows: Vec<_> = imei_index::list::DeltaReader::new(
        "d.csv",
        &b"move,35209900\nadd,3520990\xe9,blocked\n"[..],
    )
    .collect();
    let raw: Vec<&[u8]> = rows
        .iter()
        .map(|r| r.as_ref().unwrap_err().row_bytes())
        .collect();
    assert_eq!(raw, [&b"move,35209900"[..], b"add,3520990\xe9,blocked"]);
}

#[test]
fn an_imsi_on_a_tac_or_range_row_is_an_error() {
    let err = row_error("35209900,allowed,,404685505601234,");
    assert!(
        matches!(err.kind, RowError::PairNeedsImei(RuleKind::Tac)),
        "{err}"
    );
    assert_at(&err, 1, 19);
    let err = row_error("35209900000000..35209900000009,allowed,,404685505601234,");
    assert!(
        matches!(err.kind, RowError::PairNeedsImei(RuleKind::Range)),
        "{err}"
    );
    assert_at(&err, 1, 41);
    assert!(err.to_string().contains("range"), "{err}");
}

#[test]
fn a_header_naming_other_columns_is_an_error() {
    for header in [
        "imei,state",
        "imei,status,imsi",
        "IMEI,status,reason,imsi,date,notes",
    ] {
        let rows = read(&format!("{header}\n35209900,blocked\n"));
        assert_eq!(rows.len(), 2);
        let err = rows[0].as_ref().unwrap_err();
        assert!(
            matches!(&err.kind, RowError::Header { .. }),
            "{header}: {err}"
        );
        assert_at(err, 1, 1);
        assert!(
            err.to_string().contains("imei,status,reason,imsi,date"),
            "{err}"
        );
        assert!(rows[1].is_ok());
    }
    // A header row after data is just a bad row.
    let rows = read("35209900,blocked\nimei,status\n");
    let err = rows[1].as_ref().unwrap_err();
    assert!(matches!(err.kind, RowError::Imei(_)), "{err}");
    assert_at(err, 2, 1);
}

/// A source that fails after some data, like a disk error or a dropped network mount.
struct Failing<'a>(&'a [u8]);

impl Read for Failing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(io::Error::other("the disk is on fire"));
        }
        let n = self.0.len().min(buf.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn an_io_error_ends_the_list_and_the_build() {
    let source = BufReader::new(Failing(b"35209900,blocked\n35209901,blocked\n"));
    let rows: Vec<_> = ListReader::new("list.csv", source).collect();
    assert_eq!(rows.len(), 3);
    let err = rows[2].as_ref().unwrap_err();
    assert!(err.is_fatal());
    assert!(matches!(err.kind, RowError::Io(_)));
    assert!(err.to_string().contains("the disk is on fire"), "{err}");

    // A handler that would go on cannot swallow it.
    let mut b = IndexBuilder::new();
    let mut handled = 0;
    let source = BufReader::new(Failing(b"35209900,blocked\n"));
    let err = b
        .add_list(ListReader::new("list.csv", source), |_| {
            handled += 1;
            Ok(())
        })
        .unwrap_err();
    assert_eq!(handled, 0);
    assert!(err.to_string().contains("the disk is on fire"), "{err}");
}

// ---------------------------------------------------------------------------------------
// What is not a row, and the forms rows may take.
// ---------------------------------------------------------------------------------------

#[test]
fn comments_blank_lines_header_crlf_and_bom_are_not_rows() {
    let text = "\u{feff}# national list\r\n\
                \r\n\
                imei,status,reason,imsi,date\r\n\
                   # an indented comment\r\n\
                \t \r\n\
                35209900,blocked,counterfeit,,\r\n\
                \r\n\
                352099001761481,allowed,duplicate,404685505601234,2024-05-21";
    let mut reader = ListReader::new("list.csv", text.as_bytes());
    let rules: Vec<Rule> = reader.by_ref().map(Result::unwrap).collect();
    assert_eq!(
        rules,
        [
            Rule::tac(
                tac("35209900"),
                Entry::new(Status::Blocked).with_reason(Reason::Counterfeit)
            ),
            Rule::pair(
                imei("352099001761481"),
                imsi("404685505601234"),
                Entry::new(Status::Allowed)
                    .with_reason(Reason::Duplicate)
                    .with_date(date("2024-05-21"))
            ),
        ]
    );
    assert_eq!(reader.rows(), 2);
    assert_eq!(reader.bytes_read(), text.len() as u64);
    assert_eq!(reader.name(), "list.csv");

    // Line numbers count every line, so errors point at the right one.
    let rows = read("# c\n\nimei,status\n# c\n35209900,blocked\nbad,blocked\r\n");
    let err = rows[1].as_ref().unwrap_err();
    assert_at(err, 6, 1);
    assert_eq!(err.row, "bad,blocked");
}

#[test]
fn headers_may_name_fewer_columns_in_any_case_and_with_a_bom() {
    for header in [
        "imei",
        "IMEI,Status",
        "imei,status,reason",
        "\u{feff}imei,status,reason,imsi,date",
        " imei , status ",
    ] {
        let text = format!("{header}\n35209900,blocked\n");
        let mut reader = ListReader::new("l.csv", text.as_bytes());
        let rows: Vec<_> = reader.by_ref().collect();
        assert_eq!(rows.len(), 1, "{header:?}");
        assert!(rows[0].is_ok(), "{header:?}: {:?}", rows[0]);
        assert_eq!(reader.rows(), 1);
    }
    // A delta list's too.
    let delta = "\u{feff}op,imei,status\nadd,35209900,blocked\n";
    let changes: Vec<_> = imei_index::list::DeltaReader::new("d.csv", delta.as_bytes()).collect();
    assert_eq!(changes.len(), 1);
    assert!(changes[0].is_ok(), "{:?}", changes[0]);
    // A BOM is an artefact only at the start of the file.
    let rows = read("35209900,blocked\n\u{feff}35209901,blocked\n");
    let err = rows[1].as_ref().unwrap_err();
    assert!(
        matches!(
            err.kind,
            RowError::Imei(IdError::NonDigit { ch: '\u{feff}', .. })
        ),
        "{err}"
    );
}

#[test]
fn quoted_fields_and_blanks_around_fields() {
    let text = "\"35-209900-176148-1\" , \"allowed\",\"duplicate\", \"404685505601234\" ,\"2024-05-21\"\n\
                \t35209900\t,\tblocked\t\n\
                \"35209901\",\"blocked\",\"\",\"\",\"\"\n";
    let rules: Vec<Rule> = read(text).into_iter().map(Result::unwrap).collect();
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[0].kind(), RuleKind::Pair);
    assert_eq!(rules[0].entry.date, Some(date("2024-05-21")));
    assert_eq!(
        rules[1],
        Rule::tac(tac("35209900"), Entry::new(Status::Blocked))
    );
    assert_eq!(
        rules[2],
        Rule::tac(tac("35209901"), Entry::new(Status::Blocked))
    );

    // split_record is the same splitter, public for other delimited inputs.
    let fields = split_record("a;\"b;c\";\"d\"\"e\"", ';').unwrap();
    let texts: Vec<&str> = fields.iter().map(|f| &*f.text).collect();
    assert_eq!(texts, ["a", "b;c", "d\"e"]);
}

#[test]
fn the_last_line_needs_no_line_end_and_an_empty_list_has_no_rows() {
    assert_eq!(read("35209900,blocked").len(), 1);
    assert!(read("").is_empty());
    assert!(read("\n\n# only comments\nimei,status\n").is_empty());
}

// ---------------------------------------------------------------------------------------
// Rejected rows and accounting.
// ---------------------------------------------------------------------------------------

#[test]
fn rejected_rows_are_handed_over_with_their_text_and_counted() {
    let lines = [
        "# list with one bad row of every kind",
        "imei,status,reason,imsi,date",
        "35209900,blocked",
        "3520990017614x,blocked",
        "35209900,maybe",
        "35209900,blocked,mis\u{7}placed",
        "35209900,blocked,,,2024-13-01",
        "352099001761481,blocked,,0010,",
        "35209900",
        "35209900,blocked,,,,,,,",
        "35209900,\"blocked",
        "35209900,\"blocked\"x",
        "35209900,allowed,,404685505601234,",
        "35209900000009..35209900000000,blocked",
        "352099001761481,allowed,,404685505601234,",
        "35209900,tracked",
    ];
    let mut text = lines.join("\n").into_bytes();
    text.extend_from_slice(b"\n35209900,bl\xffocked\n");
    let mut b = IndexBuilder::new();
    let mut rejected: Vec<ListError> = Vec::new();
    b.add_list(ListReader::new("list.csv", &text[..]), |e| {
        rejected.push(e);
        Ok(())
    })
    .unwrap();
    let (bytes, s) = b.build_to_vec().unwrap();

    let bad_lines: Vec<u64> = rejected.iter().map(|e| e.line).collect();
    assert_eq!(bad_lines, (4..=14).chain([17]).collect::<Vec<u64>>());
    for e in &rejected {
        if let Some(line) = lines.get(e.line as usize - 1) {
            assert_eq!(e.row, *line);
        }
    }
    // Every data row is accounted for: 15 rows, 12 rejected, 3 rules of which 1 merged.
    let data_rows = lines.len() as u64 - 2 + 1;
    assert_eq!(s.rows_read(), data_rows);
    assert_eq!(s.rejected, rejected.len() as u64);
    assert_eq!(
        (s.rules_in, s.rules_written, s.merged, s.conflicts),
        (3, 2, 1, 1)
    );
    assert_eq!(s.rows_read(), s.rules_written + s.merged + s.rejected);
    let index = imei_index::Index::from_bytes(bytes.into()).unwrap();
    assert_eq!(
        index.check(imei("35209900000000")).status(),
        Some(Status::Blocked)
    );
}

// ---------------------------------------------------------------------------------------
// Rows written by format_row read back as the same rules.
// ---------------------------------------------------------------------------------------

#[test]
fn formatted_rows_read_back_as_the_same_rules() {
    let mut rules = sample_rules();
    rules.push(range(
        imei_index::Imei::MIN,
        imei_index::Imei::MAX,
        Entry::new(Status::Tracked),
    ));
    rules.push(Rule::pair(
        imei("01234567890128"),
        imsi("00101"),
        Entry::new(Status::Allowed),
    ));
    let mut text = Vec::new();
    imei_index::synth::write_list(&mut text, &rules).unwrap();
    let back: Vec<Rule> = ListReader::new("dump.csv", &text[..])
        .map(Result::unwrap)
        .collect();
    assert_eq!(back, rules);
    for r in &rules {
        let row = format_row(r);
        let parsed = read(&row);
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].as_ref().unwrap(), r, "{row}");
    }
    let (a, _) = build(&rules);
    let (b, _) = build(&back);
    assert_eq!(a.as_bytes(), b.as_bytes());
}

#[test]
fn reading_lines_is_a_bufread_so_any_source_works() {
    fn count<R: BufRead>(r: R) -> usize {
        ListReader::new("x", r).filter(Result::is_ok).count()
    }
    assert_eq!(count(io::Cursor::new("35209900,blocked\n")), 1);
    assert_eq!(
        count(BufReader::with_capacity(
            3,
            "35209900,blocked\n35209901,blocked".as_bytes()
        )),
        2
    );
}
