//! What a program can ask about the running system: `features` (what `cond-expand`
//! tests), the clock (`current-second`, `current-jiffy`, `jiffies-per-second`), the
//! process (`command-line`, `get-environment-variable(s)`). There is no `exit`: a
//! livecoding session outlives the programs sent to it.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::plain;
use crate::interp::Interp;
use crate::value::{V, Value};

/// The feature identifiers `(features)` lists and `cond-expand` recognises.
pub(crate) const FEATURES: &[&str] = &["r7rs", "ieee-float", "full-unicode", "zonal"];

/// Jiffies are microseconds.
const JIFFIES_PER_SECOND: i64 = 1_000_000;

/// The epoch of `current-jiffy`: the first time it is asked for in this process.
fn jiffy_epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

pub(super) fn install(it: &mut Interp) {
    plain(it, "features", 0, Some(0), |it, _| {
        let items: Vec<Value> = FEATURES.iter().map(|f| it.sym(f)).collect();
        Ok(it.list_from(&items))
    });
    plain(it, "current-second", 0, Some(0), |_, _| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Ok(Value::new(V::Float(now)))
    });
    plain(it, "current-jiffy", 0, Some(0), |_, _| {
        let micros = jiffy_epoch().elapsed().as_micros();
        Ok(Value::new(V::Int(
            i64::try_from(micros).unwrap_or(i64::MAX),
        )))
    });
    plain(it, "jiffies-per-second", 0, Some(0), |_, _| {
        Ok(Value::new(V::Int(JIFFIES_PER_SECOND)))
    });
    plain(it, "command-line", 0, Some(0), |it, _| {
        let items: Vec<Value> = std::env::args().map(|a| it.new_string(a)).collect();
        Ok(it.list_from(&items))
    });
    plain(it, "get-environment-variable", 1, Some(1), |it, a| {
        let name = super::str_arg(it, "get-environment-variable", a[0])?;
        Ok(match std::env::var(name) {
            Ok(v) => it.new_string(v),
            Err(_) => Value::FALSE,
        })
    });
    plain(it, "get-environment-variables", 0, Some(0), |it, _| {
        let mut items = Vec::new();
        for (k, v) in std::env::vars() {
            let (k, v) = (it.new_string(k), it.new_string(v));
            items.push(it.cons(k, v));
        }
        Ok(it.list_from(&items))
    });
}
