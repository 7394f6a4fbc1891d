//! Reading the subscriber rows of an index.

use crate::format::subscribers::{self, RowRecord, imsi_of, msisdn_of};
use crate::model::ident::Imei;
use crate::model::rule::Date;
use crate::model::source::Reasons;
use crate::model::subscriber::{Subscriber, SubscriberList};
use crate::read::index::Index;

impl Index {
    /// The subscriber rows the index keeps (see [`Subscriber`]), by (source, IMEI, IMSI,
    /// MSISDN); none in files written before sources. Rows that do not decode (only in
    /// files that fail [`Verification::Full`](crate::Verification::Full)) are skipped.
    pub fn subscribers(&self) -> impl Iterator<Item = Subscriber> + '_ {
        self.subscriber_rows()
            .into_iter()
            .filter_map(move |(row, reasons)| {
                let source = self.sources().get(usize::from(row.source))?.name.clone();
                Some(Subscriber {
                    source,
                    list: SubscriberList::from_code(row.list)?,
                    imei: Imei::from_u64(row.imei).ok()?,
                    imsi: imsi_of(row.imsi)?,
                    msisdn: msisdn_of(row.msisdn),
                    block_date: row
                        .block_date
                        .checked_sub(1)
                        .and_then(Date::from_days_since_epoch),
                    reasons,
                })
            })
    }

    /// The rows with their reasons, as stored (source ids this index's).
    pub(crate) fn subscriber_rows(&self) -> Vec<(RowRecord, Reasons)> {
        let (Some(bytes), Some(strings)) = (self.subscriber_bytes(), self.strings()) else {
            return Vec::new();
        };
        let deltas = self.delta_info().is_some();
        let n = subscribers::parse(bytes).unwrap_or(0);
        (0..n)
            .filter_map(|i| {
                let row = subscribers::row(bytes, i, deltas)?;
                Some((row, strings.reason_set(row.reasons)?))
            })
            .collect()
    }
}
