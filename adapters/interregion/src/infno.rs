//! The messages of `interregion/1`: one table, and every fact the gateway routes by derived
//! from it (who sends it, whether it changes the receiver's state).

use std::fmt;

/// Which side of a cross-region claim a gateway is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The place of treatment (就医地): its region is the envelope's `mdtrtarea_admvs`.
    Treatment,
    /// The insured place (参保地): its region is the envelope's `insuplc_admdvs`.
    Insured,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Treatment => Side::Insured,
            Side::Insured => Side::Treatment,
        }
    }
}

/// A message number (`infno`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Infno {
    /// Fee-category summary → the insured place's split.
    Xprv01,
    /// Reversal of a split.
    Xprv02,
    /// Status of an in-doubt message (and sealing it).
    Xprv03,
    /// Daily reconciliation totals.
    Xprv11,
    /// Daily reconciliation detail.
    Xprv12,
    /// Monthly clearing statement.
    Xprv21,
    /// Clearing reply (confirm / refuse each line).
    Xprv22,
    /// Prepayment notice.
    Xprv31,
}

/// The table: wire text, sender, whether the receiver's state changes, and a name.
const TABLE: [(Infno, &str, Option<Side>, bool, &str); 8] = [
    (
        Infno::Xprv01,
        "XPRV01",
        Some(Side::Treatment),
        true,
        "fee-category summary",
    ),
    (
        Infno::Xprv02,
        "XPRV02",
        Some(Side::Treatment),
        true,
        "reversal",
    ),
    // Sent by whichever side is in doubt about its own message: the sender of `oinfno`.
    (Infno::Xprv03, "XPRV03", None, false, "status query"),
    (
        Infno::Xprv11,
        "XPRV11",
        Some(Side::Treatment),
        false,
        "daily reconciliation totals",
    ),
    (
        Infno::Xprv12,
        "XPRV12",
        Some(Side::Treatment),
        false,
        "daily reconciliation detail",
    ),
    (
        Infno::Xprv21,
        "XPRV21",
        Some(Side::Treatment),
        true,
        "monthly clearing statement",
    ),
    (
        Infno::Xprv22,
        "XPRV22",
        Some(Side::Insured),
        true,
        "clearing reply",
    ),
    (
        Infno::Xprv31,
        "XPRV31",
        Some(Side::Treatment),
        true,
        "prepayment notice",
    ),
];

impl Infno {
    pub const ALL: [Infno; 8] = [
        Infno::Xprv01,
        Infno::Xprv02,
        Infno::Xprv03,
        Infno::Xprv11,
        Infno::Xprv12,
        Infno::Xprv21,
        Infno::Xprv22,
        Infno::Xprv31,
    ];

    fn row(self) -> &'static (Infno, &'static str, Option<Side>, bool, &'static str) {
        let row = &TABLE[self as usize];
        debug_assert_eq!(row.0, self, "TABLE is in declaration order");
        row
    }

    pub fn as_str(self) -> &'static str {
        self.row().1
    }

    pub fn parse(text: &str) -> Option<Infno> {
        TABLE.iter().find(|r| r.1 == text).map(|r| r.0)
    }

    /// The side that sends this message; `None` for XPRV03, whose sender is the sender of the
    /// message it asks about.
    pub fn sender(self) -> Option<Side> {
        self.row().2
    }

    /// Whether applying the message changes the receiver's state, so that a sender can be in
    /// doubt about it and ask with XPRV03. Reconciliation and status are read-only (a seal
    /// changes state, but a status query is itself re-sent, never asked about).
    pub fn changes_state(self) -> bool {
        self.row().3
    }

    /// What the message is, in English.
    pub fn name(self) -> &'static str {
        self.row().4
    }
}

impl fmt::Display for Infno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Infno {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Infno::parse(s).ok_or_else(|| format!("`{s}` is not an interregion/1 infno"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_round_trips() {
        for infno in Infno::ALL {
            assert_eq!(Infno::parse(infno.as_str()), Some(infno));
            assert_eq!(infno.to_string().parse::<Infno>(), Ok(infno));
        }
        assert_eq!(Infno::parse("xprv01"), None);
        assert_eq!(Infno::parse("2207"), None);
        assert_eq!(Infno::Xprv03.sender(), None);
        assert_eq!(Infno::Xprv22.sender(), Some(Side::Insured));
        assert!(Infno::Xprv01.changes_state() && !Infno::Xprv12.changes_state());
    }
}
