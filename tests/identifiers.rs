//! Identifiers: public IMEI vectors, every class of bad input, lenient parsing, IMSIs, TACs.
//!
//! Expected check digits come from an independent Luhn check over the whole 15-digit string
//! (the textbook formulation), not from the library's own check-digit routine.

mod common;

use imei_index::{CheckDigit, IdError, Imei, ImeiSv, Imsi, Tac};
use proptest::prelude::*;

/// Textbook Luhn: a digit string is valid when, doubling every second digit from the
/// right (the check digit itself is not doubled) and summing the digits, the sum is a
/// multiple of 10.
fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                x / 10 + x % 10
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The check digit of 14 digits: the one digit that makes the 15 Luhn-valid.
fn model_check_digit(body14: &str) -> u8 {
    assert_eq!(body14.len(), 14);
    (0..10u8)
        .find(|d| luhn_valid(&format!("{body14}{d}")))
        .expect("exactly one digit completes a Luhn number")
}

fn digits_only(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

// ---------------------------------------------------------------------------------------
// Public vectors (domain.md: python-stdnum, TS 23.003 Annex B, TS 29.571).
// ---------------------------------------------------------------------------------------

#[test]
fn stdnum_valid_vectors_parse_to_their_14_digits() {
    for input in [
        "49-015420-323751",
        "35-209900-176148-1",
        "35-209900-176148-23",
        "350077-52-323751-3",
        "354178036859789",
    ] {
        let digits = digits_only(input);
        let body = &digits[..14];
        let imei = Imei::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(imei.as_u64(), body.parse::<u64>().unwrap(), "{input}");
        assert_eq!(imei.tac().to_string(), &body[..8], "{input}");
        assert_eq!(imei.snr(), body[8..].parse::<u32>().unwrap(), "{input}");
        // Display is the 15-digit form, whose check digit is Luhn-valid.
        let shown = imei.to_string();
        assert_eq!(shown.len(), 15, "{input}");
        assert_eq!(&shown[..14], body, "{input}");
        assert!(luhn_valid(&shown), "{input} displays as {shown}");
        if digits.len() == 15 {
            // A given check digit is kept exactly.
            assert_eq!(shown, digits, "{input}");
        }
        assert_eq!(imei.check_digit(), model_check_digit(body), "{input}");
    }
}

#[test]
fn stdnum_imeisv_vector_keeps_its_software_version() {
    let sv = ImeiSv::parse("35-209900-176148-23").unwrap();
    assert_eq!(sv.svn(), 23);
    assert_eq!(sv.imei(), Imei::parse("35-209900-176148-1").unwrap());
    assert_eq!(sv.to_string(), "3520990017614823");
    // The IMEI and IMEISV of one handset are the same Imei.
    assert_eq!(Imei::parse("3520990017614823").unwrap(), sv.imei());
}

#[test]
fn stdnum_invalid_check_digit_vector_is_rejected_with_expected_and_found() {
    let input = "35-417803-685978-1";
    assert!(!luhn_valid(&digits_only(input)));
    let expected = model_check_digit("35417803685978");
    let err = Imei::parse(input).unwrap_err();
    assert_eq!(err, IdError::CheckDigit { expected, found: 1 });
    let msg = err.to_string();
    assert!(msg.contains("check digit is 1"), "{msg}");
    assert!(msg.contains(&format!("is {expected}")), "{msg}");
    // Leniently it is still the handset 35417803685978.
    let lenient = Imei::parse_lenient(input).unwrap();
    assert_eq!(lenient.imei.as_u64(), 35417803685978);
    assert_eq!(
        lenient.check_digit,
        CheckDigit::Invalid { expected, found: 1 }
    );
    assert!(!lenient.check_digit.is_ok());
}

#[test]
fn annex_b_example_has_check_digit_7() {
    // TS 23.003 Annex B: 26053179311383 has check digit 7.
    let imei = Imei::from_u64(26053179311383).unwrap();
    assert_eq!(imei.check_digit(), 7);
    assert_eq!(model_check_digit("26053179311383"), 7);
    assert_eq!(imei.to_string(), "260531793113837");
    assert_eq!(Imei::parse("260531793113837").unwrap(), imei);
    assert!(Imei::parse("260531793113830").is_err());
}

#[test]
fn pei_example_from_ts_29_571_fails_luhn() {
    // The spec's own PEI example is not Luhn-valid.
    let input = "imei-012345678901234";
    assert!(!luhn_valid("012345678901234"));
    let expected = model_check_digit("01234567890123");
    assert_eq!(
        Imei::parse(input),
        Err(IdError::CheckDigit { expected, found: 4 })
    );
    let lenient = Imei::parse_lenient(input).unwrap();
    assert_eq!(lenient.imei.as_u64(), 1234567890123);
    assert_eq!(lenient.imei.tac().to_string(), "01234567");
    assert_eq!(
        lenient.check_digit,
        CheckDigit::Invalid { expected, found: 4 }
    );
    // The leading zero is kept when displayed.
    assert!(lenient.imei.to_string().starts_with("0123456789012"));
}

#[test]
fn pei_forms_and_separators_name_the_same_handset() {
    let want = Imei::parse("352099001761481").unwrap();
    for input in [
        "35209900176148",
        "352099001761481",
        "3520990017614823",
        "imei-352099001761481",
        "IMEI-35209900176148",
        "imeisv-3520990017614823",
        "ImeiSv-3520990017614899",
        "35 209900 176148 1",
        "35-209900-176148-1",
        "  35209900176148\t",
        "3-5-2-0-9-9-0-0-1-7-6-1-4-8-1",
        "imei-35-209900-176148-1",
    ] {
        assert_eq!(Imei::parse(input), Ok(want), "{input:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Every class of bad input.
// ---------------------------------------------------------------------------------------

#[test]
fn empty_input_is_an_empty_error() {
    for input in ["", "   ", "\t\n"] {
        let err = Imei::parse(input).unwrap_err();
        assert!(
            matches!(err, IdError::Empty { what: "IMEI", .. }),
            "{input:?}: {err:?}"
        );
        assert!(err.to_string().contains("empty"), "{err}");
        assert!(matches!(
            Imei::parse_lenient(input),
            Err(IdError::Empty { .. })
        ));
    }
    // A PEI prefix with nothing after it names nothing either.
    assert!(matches!(
        Imei::parse("imei-"),
        Err(IdError::Empty { what: "IMEI", .. })
    ));
    assert!(matches!(
        Tac::parse(""),
        Err(IdError::Empty { what: "TAC", .. })
    ));
    assert!(matches!(
        Imsi::parse(" "),
        Err(IdError::Empty { what: "IMSI", .. })
    ));
    assert!(matches!(
        Imsi::parse("imsi-"),
        Err(IdError::Empty { what: "IMSI", .. })
    ));
}

#[test]
fn a_non_digit_is_reported_with_its_character_and_position() {
    // (input, character, 1-based character position in the input as given)
    let cases: &[(&str, char, usize)] = &[
        ("35209900176148x", 'x', 15),
        ("x5209900176148", 'x', 1),
        ("3520990017614.8", '.', 14),
        ("35-209900-17614X-1", 'X', 16),
        ("  3520990017614a", 'a', 16),
        ("imei-3520990017614a", 'a', 19),
        ("imeisv-35209900176148_3", '_', 22),
        ("35209900_176148", '_', 9),
        // Positions count characters, not bytes.
        ("\u{3000}3520990017614é", 'é', 15),
        // Fullwidth digits are not ASCII digits.
        ("３5209900176148", '３', 1),
        ("35209900/176148", '/', 9),
        ("imsi-35209900176148", 'i', 1),
    ];
    for &(input, ch, position) in cases {
        let err = Imei::parse(input).unwrap_err();
        assert_eq!(
            err,
            IdError::NonDigit {
                what: "IMEI",
                ch,
                position
            },
            "{input:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&format!("{ch:?}")), "{msg}");
        assert!(msg.contains(&format!("position {position}")), "{msg}");
        assert!(msg.contains("not a digit"), "{msg}");
        // The character really is at that position of the input.
        assert_eq!(input.chars().nth(position - 1), Some(ch), "{input:?}");
        // Lenient parsing rejects it the same way.
        assert_eq!(Imei::parse_lenient(input).unwrap_err(), err);
    }
}

#[test]
fn a_separator_not_between_digits_is_misplaced() {
    let cases: &[(&str, char, usize)] = &[
        ("-35209900176148", '-', 1),
        ("35209900176148-", '-', 15),
        ("352099001761481 -", ' ', 16),
        (" -352099001761481", '-', 2),
        ("imei--352099001761481", '-', 6),
        ("imei- 352099001761481", ' ', 6),
        ("35209900176148 -", ' ', 15),
    ];
    for &(input, ch, position) in cases {
        let err = Imei::parse(input).unwrap_err();
        assert_eq!(
            err,
            IdError::MisplacedSeparator {
                what: "IMEI",
                ch,
                position
            },
            "{input:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&format!("position {position}")), "{msg}");
        assert!(msg.contains("between two digits"), "{msg}");
        assert_eq!(input.chars().nth(position - 1), Some(ch), "{input:?}");
    }
}

#[test]
fn a_wrong_number_of_digits_says_how_many() {
    for n in [1usize, 7, 8, 13, 17, 18, 40, 100] {
        let input = "1".repeat(n);
        let err = Imei::parse(&input).unwrap_err();
        assert!(
            matches!(err, IdError::Length { what: "IMEI", found, .. } if found == n),
            "{n}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&format!("has {n} digits")), "{msg}");
        assert!(msg.contains("14 or 15"), "{msg}");
    }
    // Separators do not count as digits.
    assert!(matches!(
        Imei::parse("35-209900-17614"),
        Err(IdError::Length { found: 13, .. })
    ));
    // A PEI prefix narrows the lengths it may carry.
    assert!(matches!(
        Imei::parse("imei-3520990017614823"),
        Err(IdError::Length { found: 16, .. })
    ));
    assert!(matches!(
        Imei::parse("imeisv-352099001761481"),
        Err(IdError::Length { found: 15, .. })
    ));
    assert!(matches!(
        Imei::parse("imeisv-35209900176148"),
        Err(IdError::Length { found: 14, .. })
    ));
    let msg = Imei::parse("imeisv-352099001761481")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("16 digits after imeisv-"), "{msg}");
}

#[test]
fn every_wrong_check_digit_is_rejected_with_expected_and_found() {
    let body = "35209900176148";
    let expected = model_check_digit(body);
    for found in 0..10u8 {
        let input = format!("{body}{found}");
        let parsed = Imei::parse(&input);
        let lenient = Imei::parse_lenient(&input).unwrap();
        assert_eq!(lenient.imei.as_u64(), 35209900176148);
        if found == expected {
            assert!(parsed.is_ok());
            assert_eq!(lenient.check_digit, CheckDigit::Valid);
        } else {
            let err = parsed.unwrap_err();
            assert_eq!(err, IdError::CheckDigit { expected, found });
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("check digit is {found}"))
                    && msg.contains(&format!("is {expected}")),
                "{msg}"
            );
            assert_eq!(lenient.check_digit, CheckDigit::Invalid { expected, found });
        }
    }
}

#[test]
fn peis_that_name_no_imei_are_rejected_as_such() {
    for (input, kind) in [
        ("mac-00-11-22-33-44-55", "MAC address"),
        ("mac-00-11-22-33-44-55-untrusted", "MAC address"),
        ("MAC-00-11-22-33-44-55", "MAC address"),
        ("eui-0011223344556677", "EUI-64"),
        ("eui-00-11-22-33-44-55-66-77", "EUI-64"),
        ("  eui-0011223344556677", "EUI-64"),
    ] {
        let err = Imei::parse(input).unwrap_err();
        assert_eq!(err, IdError::NotAnImei { kind }, "{input}");
        assert_eq!(Imei::parse_lenient(input).unwrap_err(), err);
        assert!(ImeiSv::parse(input).is_err());
        let msg = err.to_string();
        assert!(msg.contains(kind) && msg.contains("not an IMEI"), "{msg}");
    }
}

#[test]
fn error_messages_are_sentences_that_say_how_to_fix_the_input() {
    let errors = [
        Imei::parse("").unwrap_err(),
        Imei::parse("3520990017614x").unwrap_err(),
        Imei::parse("-35209900176148").unwrap_err(),
        Imei::parse("3520990017614").unwrap_err(),
        Imei::parse("352099001761480").unwrap_err(),
        Imei::parse("mac-00-11-22-33-44-55").unwrap_err(),
        Imei::from_u64(100_000_000_000_000).unwrap_err(),
        Tac::parse("3520990").unwrap_err(),
        Imsi::parse("0010").unwrap_err(),
    ];
    for err in errors {
        let msg = err.to_string();
        // No trailing period (Rust's convention for messages that get wrapped), and a
        // clause after a colon that says what is expected.
        assert!(!msg.ends_with('.'), "{msg}");
        assert!(msg.contains(':'), "{msg}");
        assert!(msg.split_whitespace().count() >= 8, "too terse: {msg}");
    }
}

// ---------------------------------------------------------------------------------------
// Lenient parsing.
// ---------------------------------------------------------------------------------------

#[test]
fn parse_lenient_says_valid_absent_or_invalid() {
    let valid = Imei::parse_lenient("352099001761481").unwrap();
    assert_eq!(valid.check_digit, CheckDigit::Valid);
    assert!(valid.check_digit.is_ok());

    for absent in [
        "35209900176148",
        "3520990017614823",
        "imeisv-3520990017614823",
    ] {
        let p = Imei::parse_lenient(absent).unwrap();
        assert_eq!(p.check_digit, CheckDigit::Absent, "{absent}");
        assert!(p.check_digit.is_ok());
        assert_eq!(p.imei, valid.imei);
    }

    // Some networks send a spare 0 where the check digit goes: leniently, that is the
    // same handset with an invalid (not absent) check digit.
    let expected = model_check_digit("35209900176148");
    assert_ne!(expected, 0, "this vector needs a nonzero check digit");
    let spare = Imei::parse_lenient("352099001761480").unwrap();
    assert_eq!(spare.imei, valid.imei);
    assert_eq!(
        spare.check_digit,
        CheckDigit::Invalid { expected, found: 0 }
    );
    assert!(Imei::parse("352099001761480").is_err());
}

#[test]
fn parse_lenient_still_rejects_everything_that_is_not_an_imei() {
    for input in [
        "",
        "3520990017614",
        "35209900176148123",
        "3520990017614x",
        "-35209900176148",
        "mac-00-11-22-33-44-55",
    ] {
        assert!(Imei::parse_lenient(input).is_err(), "{input:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Numbers, parts and edges.
// ---------------------------------------------------------------------------------------

#[test]
fn from_u64_accepts_exactly_14_digits() {
    assert_eq!(Imei::from_u64(0).unwrap(), Imei::MIN);
    assert_eq!(Imei::from_u64(99_999_999_999_999).unwrap(), Imei::MAX);
    let err = Imei::from_u64(100_000_000_000_000).unwrap_err();
    assert!(matches!(
        err,
        IdError::OutOfRange {
            value: 100_000_000_000_000,
            max: 99_999_999_999_999,
            ..
        }
    ));
    assert!(Imei::from_u64(u64::MAX).is_err());
    // The extremes display with leading zeros and a valid check digit.
    let min = Imei::MIN.to_string();
    assert_eq!(&min[..14], "00000000000000");
    assert!(luhn_valid(&min));
    let max = Imei::MAX.to_string();
    assert_eq!(&max[..14], "99999999999999");
    assert!(luhn_valid(&max));
    assert_eq!(Imei::parse(&min).unwrap(), Imei::MIN);
    assert_eq!(Imei::parse(&max).unwrap(), Imei::MAX);
}

#[test]
fn tac_and_serial_split_the_14_digits() {
    let t = Tac::parse("35209900").unwrap();
    assert_eq!(t.as_u32(), 35209900);
    assert_eq!(t.to_string(), "35209900");
    let i = Imei::from_parts(t, 176148).unwrap();
    assert_eq!(i, Imei::parse("352099001761481").unwrap());
    assert_eq!((i.tac(), i.snr()), (t, 176148));
    assert_eq!(t.first_imei().as_u64(), 35_209_900_000_000);
    assert_eq!(t.last_imei().as_u64(), 35_209_900_999_999);
    assert_eq!(t.first_imei().tac(), t);
    assert_eq!(t.last_imei().tac(), t);
    assert_eq!(
        Imei::from_u64(t.last_imei().as_u64() + 1).unwrap().tac(),
        Tac::from_u32(35209901).unwrap()
    );
    assert!(matches!(
        Imei::from_parts(t, 1_000_000),
        Err(IdError::OutOfRange {
            value: 1_000_000,
            max: 999_999,
            ..
        })
    ));
    // Leading zeros of a TAC are digits.
    let zero = Tac::parse("01234567").unwrap();
    assert_eq!(zero.as_u32(), 1234567);
    assert_eq!(zero.to_string(), "01234567");
}

#[test]
fn tac_needs_exactly_eight_plain_digits() {
    for (input, found) in [("3520990", 7), ("352099001", 9), ("1", 1)] {
        assert_eq!(
            Tac::parse(input),
            Err(IdError::Length {
                what: "TAC",
                found,
                expected: "8 digits"
            })
        );
    }
    assert_eq!(
        Tac::parse("3520-990"),
        Err(IdError::NonDigit {
            what: "TAC",
            ch: '-',
            position: 5
        })
    );
    assert_eq!(
        Tac::parse(" 3520990x"),
        Err(IdError::NonDigit {
            what: "TAC",
            ch: 'x',
            position: 9
        })
    );
    assert_eq!(Tac::parse(" 35209900 ").unwrap().as_u32(), 35209900);
    assert!(matches!(
        Tac::from_u32(100_000_000),
        Err(IdError::OutOfRange { what: "TAC", .. })
    ));
    assert_eq!(Tac::from_u32(99_999_999).unwrap().to_string(), "99999999");
}

#[test]
fn imeisv_needs_16_digits() {
    for (input, found) in [
        ("352099001761481", 15),
        ("35209900176148", 14),
        ("35209900176148234", 17),
        ("imei-3520990017614823", 16),
    ] {
        assert!(
            matches!(ImeiSv::parse(input), Err(IdError::Length { what: "IMEISV", found: f, .. }) if f == found),
            "{input}: {:?}",
            ImeiSv::parse(input)
        );
    }
    let imei = Imei::parse("352099001761481").unwrap();
    assert_eq!(ImeiSv::new(imei, 99).unwrap().svn(), 99);
    assert!(matches!(
        ImeiSv::new(imei, 100),
        Err(IdError::OutOfRange {
            value: 100,
            max: 99,
            ..
        })
    ));
    assert_eq!(
        ImeiSv::new(imei, 5).unwrap().to_string(),
        "3520990017614805"
    );
}

// ---------------------------------------------------------------------------------------
// IMSIs.
// ---------------------------------------------------------------------------------------

#[test]
fn imsi_accepts_5_to_15_digits_and_the_supi_prefix() {
    for n in 5..=15usize {
        let digits: String = (0..n).map(|i| char::from(b'0' + (i % 10) as u8)).collect();
        let imsi = Imsi::parse(&digits).unwrap();
        assert_eq!(imsi.len(), n);
        assert_eq!(imsi.to_string(), digits);
        for form in [
            format!("imsi-{digits}"),
            format!("IMSI-{digits}"),
            format!(" {digits} "),
        ] {
            assert_eq!(Imsi::parse(&form).unwrap(), imsi, "{form}");
        }
    }
    for n in [1usize, 4, 16, 20, 40] {
        let digits = "9".repeat(n);
        assert_eq!(
            Imsi::parse(&digits),
            Err(IdError::Length {
                what: "IMSI",
                found: n,
                expected: "5 to 15 digits"
            })
        );
        assert!(Imsi::parse(&format!("imsi-{digits}")).is_err());
    }
}

#[test]
fn imsi_leading_zeros_are_significant() {
    let a = Imsi::parse("01010").unwrap();
    let b = Imsi::parse("001010").unwrap();
    assert_eq!(a.as_u64(), b.as_u64());
    assert_ne!(a, b);
    assert_eq!(a.to_string(), "01010");
    assert_eq!(b.to_string(), "001010");
}

#[test]
fn imsi_non_digits_are_reported_at_their_position_in_the_input() {
    let cases: &[(&str, char, usize)] = &[
        ("00101x", 'x', 6),
        ("imsi-00101x", 'x', 11),
        ("  imsi-00101x", 'x', 13),
        ("404-68-5505601234", '-', 4),
        ("imsi-imsi-00101", 'i', 6),
        ("imei-35209900176148", 'i', 1),
        ("é00101", 'é', 1),
    ];
    for &(input, ch, position) in cases {
        assert_eq!(
            Imsi::parse(input),
            Err(IdError::NonDigit {
                what: "IMSI",
                ch,
                position
            }),
            "{input:?}"
        );
        assert_eq!(input.chars().nth(position - 1), Some(ch), "{input:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Properties over all IMEIs.
// ---------------------------------------------------------------------------------------

/// Joins digits with random separators (runs of spaces or hyphens) between some of them.
fn with_separators(digits: &str, seps: &[u8]) -> String {
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 {
            match seps.get(i).copied().unwrap_or(0) % 4 {
                1 => out.push('-'),
                2 => out.push(' '),
                3 => out.push_str(" - "),
                _ => {}
            }
        }
        out.push(ch);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_imei_round_trips_through_all_its_forms(
        n in 0u64..100_000_000_000_000,
        svn in 0u8..100,
        seps in proptest::collection::vec(any::<u8>(), 16),
    ) {
        let imei = Imei::from_u64(n).unwrap();
        let body = format!("{n:014}");
        let shown = imei.to_string();
        prop_assert_eq!(&shown[..14], &body[..]);
        prop_assert!(luhn_valid(&shown));
        prop_assert_eq!(imei.check_digit(), model_check_digit(&body));
        prop_assert_eq!(imei.tac().as_u32() as u64, n / 1_000_000);
        prop_assert_eq!(imei.snr() as u64, n % 1_000_000);
        let sv = format!("{body}{svn:02}");
        for form in [
            body.clone(),
            shown.clone(),
            sv.clone(),
            format!("imei-{shown}"),
            format!("imeisv-{sv}"),
            with_separators(&shown, &seps),
            with_separators(&sv, &seps),
        ] {
            prop_assert_eq!(Imei::parse(&form), Ok(imei), "{:?}", form);
        }
        let parsed_sv = ImeiSv::parse(&with_separators(&sv, &seps)).unwrap();
        prop_assert_eq!((parsed_sv.imei(), parsed_sv.svn()), (imei, svn));
        prop_assert_eq!(parsed_sv.to_string(), sv);
    }

    #[test]
    fn a_wrong_check_digit_is_always_caught(n in 0u64..100_000_000_000_000, wrong in 1u8..10) {
        let imei = Imei::from_u64(n).unwrap();
        let expected = imei.check_digit();
        let found = (expected + wrong) % 10;
        let input = format!("{n:014}{found}");
        prop_assert!(!luhn_valid(&input));
        prop_assert_eq!(Imei::parse(&input), Err(IdError::CheckDigit { expected, found }));
        let lenient = Imei::parse_lenient(&input).unwrap();
        prop_assert_eq!(lenient.imei, imei);
        prop_assert_eq!(lenient.check_digit, CheckDigit::Invalid { expected, found });
    }

    #[test]
    fn no_string_makes_the_parsers_panic(s in "\\PC{0,24}") {
        let _ = Imei::parse(&s);
        let _ = Imei::parse_lenient(&s);
        let _ = ImeiSv::parse(&s);
        let _ = Tac::parse(&s);
        let _ = Imsi::parse(&s);
    }

    #[test]
    fn no_imei_like_string_makes_the_parsers_panic(s in "(imei-|imeisv-|imsi-|mac-|eui-| |)[0-9 \\-xé]{0,20}") {
        // Positions, when reported, point at the named character.
        if let Err(
            IdError::NonDigit { ch, position, .. } | IdError::MisplacedSeparator { ch, position, .. },
        ) = Imei::parse(&s)
        {
            prop_assert_eq!(s.chars().nth(position - 1), Some(ch));
        }
        if let Err(IdError::NonDigit { ch, position, .. }) = Imsi::parse(&s) {
            prop_assert_eq!(s.chars().nth(position - 1), Some(ch));
        }
        let _ = ImeiSv::parse(&s);
        let _ = Tac::parse(&s);
    }
}
