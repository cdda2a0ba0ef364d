//! Shared fixtures: the shipped example files under `specs/policy/`.
#![allow(dead_code)]

use medsettle_canonical::{Admdvs, InstitutionLevel, Money};
use medsettle_core::{Catalogue, Core, MemView, PersonRegistry, PolicyBook, RequestCtx};
use time::OffsetDateTime;
use time::macros::datetime;

pub fn spec(name: &str) -> String {
    let path = format!("{}/../../specs/policy/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn policy() -> PolicyBook {
    PolicyBook::from_toml_str(&spec("example.toml")).expect("example policy loads")
}

pub fn catalogue() -> Catalogue {
    Catalogue::from_toml_str(&spec("catalogue-example.toml")).expect("example catalogue loads")
}

pub fn registry() -> PersonRegistry {
    PersonRegistry::from_toml_str(&spec("persons-example.toml")).expect("example registry loads")
}

pub fn core() -> Core {
    Core::new(policy(), catalogue())
}

pub fn view() -> MemView {
    MemView::with_registry(&registry())
}

pub fn yuan(t: &str) -> Money {
    Money::parse_yuan(t).unwrap()
}

pub fn admdvs(t: &str) -> Admdvs {
    Admdvs::parse(t).unwrap()
}

pub const NOW: OffsetDateTime = datetime!(2024-05-20 10:30:00 +08:00);

/// A level-3 hospital in 990100; `seq` makes the msgid and the id seed unique.
pub fn ctx(seq: u64) -> RequestCtx {
    RequestCtx {
        msgid: format!("H99010000001202405201030{seq:06}"),
        fixmedins_code: "H99010000001".to_owned(),
        inst_level: InstitutionLevel::Level3,
        mdtrtarea_admvs: admdvs("990100"),
        now: NOW,
        id_seed: seq,
    }
}
