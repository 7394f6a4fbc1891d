//! Exports for the register: the distinct `date,imei,imsi,msisdn` triplets of journals, in
//! DIRBS's operator-upload format.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use imei_index::Imei;

use crate::read::JournalRow;
use crate::time;

/// The header of a DIRBS operator upload.
pub const DIRBS_HEADER: &str = "date,imei,imsi,msisdn";

/// One distinct sighting for the register: a UTC day, a handset, and the IMSI and MSISDN
/// seen with it (either may be empty).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Triplet {
    /// The day, as days since 1970-01-01 (UTC).
    pub day: u32,
    /// The handset.
    pub imei: Imei,
    /// The IMSI's digits, or empty.
    pub imsi: String,
    /// The MSISDN's digits, or empty.
    pub msisdn: String,
}

/// Collects the distinct triplets of any number of journal rows, from any number of files
/// and processes, in any order.
///
/// Memory: each distinct IMSI and MSISDN is kept once, and each distinct triplet in 24
/// bytes (about 30 with the set's overhead).
///
/// # Example
///
/// ```
/// use imei_index_trace::{DirbsExport, JournalReader};
///
/// let file = "time,imei,imsi,msisdn,status,reason,rule,alert\n\
///     2024-05-21T10:15:30.123Z,35417803685978,404685505601234,919876543210,blocked,stolen,imei,new-sim\n\
///     2024-05-21T18:00:00.000Z,35417803685978,404685505601234,919876543210,blocked,stolen,imei,\n";
/// let mut export = DirbsExport::new();
/// for row in JournalReader::new("j.csv", file.as_bytes())? {
///     export.add(&row?);
/// }
/// let mut out = Vec::new();
/// export.write(&mut out)?;
/// assert_eq!(String::from_utf8(out)?,
///     "date,imei,imsi,msisdn\n20240521,35417803685978,404685505601234,919876543210\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct DirbsExport {
    numbers: HashMap<Box<str>, u32>,
    seen: HashSet<(u32, u64, u32, u32)>,
    rows: u64,
}

impl DirbsExport {
    /// An empty export.
    pub fn new() -> DirbsExport {
        DirbsExport::default()
    }

    fn number(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.numbers.get(text) {
            return id;
        }
        let id = u32::try_from(self.numbers.len()).expect("fewer than 4 billion numbers");
        self.numbers.insert(text.into(), id);
        id
    }

    /// Adds a row.
    pub fn add(&mut self, row: &JournalRow) {
        self.rows += 1;
        let imsi = self.number(&row.imsi);
        let msisdn = self.number(&row.msisdn);
        self.seen
            .insert((row.day(), row.imei.as_u64(), imsi, msisdn));
    }

    /// How many rows were added.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// How many distinct triplets they hold.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// The distinct triplets, sorted by day, IMEI, IMSI and MSISDN.
    pub fn triplets(&self) -> Vec<Triplet> {
        let mut texts = vec![""; self.numbers.len()];
        for (text, &id) in &self.numbers {
            texts[id as usize] = text;
        }
        let mut out: Vec<Triplet> = self
            .seen
            .iter()
            .map(|&(day, imei, imsi, msisdn)| Triplet {
                day,
                imei: Imei::from_u64(imei).expect("an IMEI's 14 digits"),
                imsi: texts[imsi as usize].to_string(),
                msisdn: texts[msisdn as usize].to_string(),
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Writes the upload: the header `date,imei,imsi,msisdn`, then one line per distinct
    /// triplet (`YYYYMMDD`, 14 IMEI digits, the IMSI and MSISDN digits or empty), sorted.
    ///
    /// # Errors
    ///
    /// The writer's.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(out, "{DIRBS_HEADER}")?;
        for t in self.triplets() {
            writeln!(
                out,
                "{},{:014},{},{}",
                time::compact_day(t.day),
                t.imei.as_u64(),
                t.imsi,
                t.msisdn
            )?;
        }
        Ok(())
    }
}
