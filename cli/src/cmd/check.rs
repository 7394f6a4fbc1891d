//! `imei-index check`: what does the index say about these handsets?

use std::io::{self, BufRead, BufWriter, Write};
use std::path::PathBuf;

use imei_index::list::strip_bom;
use imei_index::{CheckDigit, Date, Imei, Imsi, Index, Verdict, Verification};

use super::{CliResult, Failure, Outcome, TacPolicyArgs};

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The index file.
    #[arg(long, value_name = "INDEX")]
    index: PathBuf,
    /// Check every IMEI as used with this IMSI, so that pair rules apply.
    #[arg(long, value_name = "IMSI")]
    imsi: Option<String>,
    /// Print one JSON object per input line (JSON Lines) instead of columns.
    #[arg(long)]
    json: bool,
    /// Accept a 15th digit that is not the Luhn check digit (forged handsets, spare 0).
    #[arg(long)]
    lenient: bool,
    /// The day the checks are made on, YYYY-MM-DD, for rules that take effect on a date
    /// (a notified handset is tracked until its block date, blocked from it). Default:
    /// today in the time zone `--tz` names.
    #[arg(long, value_name = "YYYY-MM-DD")]
    at: Option<String>,
    /// The time zone whose today the checks are made on without `--at`: an IANA name
    /// (Asia/Kolkata, Europe/Berlin) or UTC, the default.
    #[arg(long, value_name = "ZONE", default_value = "UTC")]
    tz: String,
    #[command(flatten)]
    policy: TacPolicyArgs,
    /// IMEIs to check: 14 or 15 digits, 16-digit IMEISVs, imei-/imeisv- PEIs, spaces and
    /// hyphens allowed. Without any, reads one per line from standard input.
    #[arg(value_name = "IMEI")]
    imeis: Vec<String>,
}

pub(crate) fn run(args: &Args) -> CliResult {
    let imsi = args
        .imsi
        .as_deref()
        .map(Imsi::parse)
        .transpose()
        .map_err(|e| {
            Failure::new(format!(
                "--imsi {:?} is not an IMSI: {e}",
                args.imsi.as_deref().unwrap_or("")
            ))
        })?;
    let day = check_day(args.at.as_deref(), &args.tz)?;
    let index = args.policy.open(&args.index, Verification::Checksums)?;
    let mut checker = Checker {
        index: &index,
        day,
        imsi,
        json: args.json,
        lenient: args.lenient,
        out: BufWriter::with_capacity(1 << 16, io::stdout().lock()),
        invalid: 0,
    };
    if args.imeis.is_empty() {
        let mut stdin = io::stdin().lock();
        let mut buf = Vec::with_capacity(64);
        let mut line_no = 0u64;
        loop {
            buf.clear();
            if stdin
                .read_until(b'\n', &mut buf)
                .map_err(|e| Failure::new(format!("could not read standard input: {e}")))?
                == 0
            {
                break;
            }
            line_no += 1;
            let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let mut line = line.strip_suffix(b"\r").unwrap_or(line);
            // A byte-order mark at the start of the input is an editor's artefact, as in
            // list files and logs.
            if line_no == 1 {
                line = strip_bom(line);
            }
            match std::str::from_utf8(line) {
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => checker.check(text, &format!("line {line_no}"))?,
                Err(e) => {
                    let text = String::from_utf8_lossy(line);
                    let valid = &line[..e.valid_up_to()];
                    let position = valid.iter().filter(|&&b| b & 0xc0 != 0x80).count() + 1;
                    let msg = format!(
                        "byte 0x{:02X} at position {position} is not UTF-8: an IMEI is \
                         digits, with spaces or hyphens between them",
                        line[e.valid_up_to()],
                    );
                    checker.invalid(&text, &format!("line {line_no}"), &msg)?;
                }
            }
        }
    } else {
        for (i, text) in args.imeis.iter().enumerate() {
            // The first argument may start with the mark of a file it was read from
            // (`check $(cat imeis.txt)`): the start of a text, like standard input's.
            let text = if i == 0 {
                &text[text.len() - strip_bom(text.as_bytes()).len()..]
            } else {
                text
            };
            checker.check(text, &format!("argument {}", i + 1))?;
        }
    }
    checker.out.flush()?;
    Ok(if checker.invalid > 0 {
        Outcome::Invalid
    } else {
        Outcome::Success
    })
}

struct Checker<'a, W: Write> {
    index: &'a Index,
    day: Date,
    imsi: Option<Imsi>,
    json: bool,
    lenient: bool,
    out: W,
    invalid: u64,
}

impl<W: Write> Checker<'_, W> {
    fn check(&mut self, input: &str, place: &str) -> Result<(), Failure> {
        let parsed = if self.lenient {
            Imei::parse_lenient(input).map(|p| (p.imei, p.check_digit))
        } else {
            Imei::parse(input).map(|i| (i, CheckDigit::Absent))
        };
        let (imei, check_digit) = match parsed {
            Ok(p) => p,
            Err(e) => return self.invalid(input, place, &e.to_string()),
        };
        let verdict = match &self.imsi {
            Some(imsi) => self.index.check_with_imsi_at(imei, imsi, self.day),
            None => self.index.check_at(imei, self.day),
        };
        if self.json {
            writeln!(
                self.out,
                "{}",
                json_verdict(self.index, input, imei, &verdict, check_digit.is_ok())
            )?;
        } else {
            let dash = |s: Option<String>| s.unwrap_or_else(|| "-".into());
            write!(
                self.out,
                "{input}\t{imei}\t{}\t{}\t{}\t{}",
                verdict.status().map_or("unknown", |s| s.as_str()),
                dash(reasons(self.index, &verdict)),
                dash(verdict.rule().map(|r| r.to_string())),
                dash(verdict.date().map(|d| d.to_string())),
            )?;
            if let CheckDigit::Invalid { expected, found } = check_digit {
                write!(
                    self.out,
                    "\t(check digit {found} is wrong: expected {expected})"
                )?;
            }
            writeln!(self.out)?;
        }
        Ok(())
    }

    fn invalid(&mut self, input: &str, place: &str, msg: &str) -> Result<(), Failure> {
        self.invalid += 1;
        if self.json {
            writeln!(
                self.out,
                "{{\"input\":{},\"error\":{}}}",
                json_string(input),
                json_string(msg)
            )?;
        } else {
            // Keep results and complaints apart: results on stdout, complaints on stderr.
            self.out.flush()?;
            eprintln!("imei-index: error: {place} {input:?} is not an IMEI: {msg}");
        }
        Ok(())
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("strings always serialize")
}

/// The day checks are made on: `at` (YYYY-MM-DD), or today in the time zone `tz`.
pub(crate) fn check_day(at: Option<&str>, tz: &str) -> Result<Date, Failure> {
    if let Some(at) = at {
        return at.parse().map_err(|e| {
            Failure::new(format!(
                "--at {at:?} is not a day: {e}; write it YYYY-MM-DD"
            ))
        });
    }
    let zone = jiff::tz::TimeZone::get(tz).map_err(|e| {
        Failure::new(format!(
            "--tz {tz:?} is not a time zone this system knows: {e}; give an IANA name such as \
             Asia/Kolkata or Europe/Berlin, or UTC"
        ))
    })?;
    let today = jiff::Timestamp::now().to_zoned(zone).date();
    // jiff's years are -9999 to 9999; a day of today's is one of ours.
    Date::from_ymd(
        u32::try_from(today.year()).unwrap_or(0),
        u32::try_from(today.month()).unwrap_or(0),
        u32::try_from(today.day()).unwrap_or(0),
    )
    .ok_or_else(|| {
        Failure::new(format!(
            "today in {tz} ({today}) is not a day an index can hold"
        ))
    })
}

/// A verdict's reasons as the index holds them, several joined with `|`; `None` for none.
fn reasons(index: &Index, v: &Verdict) -> Option<String> {
    let mut joined = String::new();
    for (i, r) in index.reasons(v).enumerate() {
        if i > 0 {
            joined.push('|');
        }
        joined.push_str(r);
    }
    (!joined.is_empty()).then_some(joined)
}

/// The JSON Lines object of the product contract, keys in its order, then the fields added
/// since: `check_digit_ok`, false only for a wrong 15th digit accepted with `--lenient`
/// (what the tab-separated output flags with a last column), and `source`, the list the
/// deciding rule came from. `reason` joins several reasons with `|`. An index that holds a
/// TAC database adds `manufacturer` and `model` (null for a TAC it does not list) and
/// `policy` (`not-in-tac-db` or `allocated-after` for a verdict of the TAC policy, else
/// null).
pub(crate) fn json_verdict(
    index: &Index,
    input: &str,
    imei: Imei,
    v: &Verdict,
    check_digit_ok: bool,
) -> String {
    let opt = |s: Option<String>| s.map_or("null".to_string(), |s| json_string(&s));
    let mut line = format!(
        "{{\"input\":{},\"imei\":\"{imei}\",\"status\":\"{}\",\"reason\":{},\"rule\":{},\"date\":{},\"check_digit_ok\":{check_digit_ok},\"source\":{}",
        json_string(input),
        v.status().map_or("unknown", |s| s.as_str()),
        opt(reasons(index, v)),
        opt(v.rule().map(|r| r.to_string())),
        opt(v.date().map(|d| d.to_string())),
        opt(index.source(v).map(str::to_string)),
    );
    if index.tac_db_len().is_some() {
        let device = index.device(imei.tac());
        line.push_str(&format!(
            ",\"manufacturer\":{},\"model\":{},\"policy\":{}",
            opt(device.map(|d| d.manufacturer.to_string())),
            opt(device.map(|d| d.model.to_string())),
            opt(v.policy().map(|p| p.as_str().to_string())),
        ));
    }
    line.push('}');
    line
}
