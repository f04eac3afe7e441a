//! `[storage]` and `[[cleanup_policy]]` of trove.toml (docs/config.md, docs/storage.md).

use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Deserializer};

/// `[storage]`: garbage collection, the blob store's quotas and free-space floor, the
/// lifecycle's schedules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Garbage collection keeps blobs and parts (layers) younger than this: an upload stays
    /// until the manifest that needs it arrives. `"0s"` for tests only.
    #[serde(default = "default_gc_grace", deserialize_with = "duration")]
    pub gc_grace: Duration,
    /// How often garbage collection runs (`"0s"`: only on demand).
    #[serde(default = "default_gc_interval", deserialize_with = "duration")]
    pub gc_interval: Duration,
    /// How often cleanup policies run (`"0s"`: only on demand).
    #[serde(default = "default_cleanup_interval", deserialize_with = "duration")]
    pub cleanup_interval: Duration,
    /// New uploads are refused (507) while the blob store's filesystem has less free space.
    #[serde(default)]
    pub min_free_bytes: ByteSize,
    /// The blob store's hard quota: writes that would take it past are refused.
    #[serde(default)]
    pub quota_bytes: Option<ByteSize>,
    /// The blob store's soft quota: a warning past it.
    #[serde(default)]
    pub quota_soft_bytes: Option<ByteSize>,
}

fn default_gc_grace() -> Duration {
    Duration::from_secs(2 * 3600)
}
fn default_gc_interval() -> Duration {
    Duration::from_secs(3600)
}
fn default_cleanup_interval() -> Duration {
    Duration::from_secs(24 * 3600)
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            gc_grace: default_gc_grace(),
            gc_interval: default_gc_interval(),
            cleanup_interval: default_cleanup_interval(),
            min_free_bytes: ByteSize(0),
            quota_bytes: None,
            quota_soft_bytes: None,
        }
    }
}

impl StorageConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if let (Some(hard), Some(soft)) = (self.quota_bytes, self.quota_soft_bytes)
            && soft.0 > hard.0
        {
            bail!(
                "[storage] quota_soft_bytes is above quota_bytes; a soft quota warns before the hard one refuses"
            );
        }
        if self.quota_bytes.is_some_and(|q| q.0 == 0) {
            bail!("[storage] quota_bytes must be more than 0 (leave it out for no quota)");
        }
        Ok(())
    }

    /// The limits the kinds that write enforce.
    pub fn limits(&self) -> trove_core::StorageLimits {
        trove_core::StorageLimits {
            quota_bytes: self.quota_bytes.map(|b| b.0),
            quota_soft_bytes: self.quota_soft_bytes.map(|b| b.0),
            min_free_bytes: self.min_free_bytes.0,
        }
    }
}

/// A byte count: an integer, or a string with a unit (`"512 MiB"`, `"10GB"`, `"1.5 GiB"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(s: &str) -> Result<ByteSize, String> {
        let s = s.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("{s:?} is not a size (write 1073741824, \"1 GiB\" or \"1GB\")"))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1000,
            "kib" => 1 << 10,
            "m" | "mb" => 1_000_000,
            "mib" => 1 << 20,
            "g" | "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            "t" | "tb" => 1_000_000_000_000,
            "tib" => 1 << 40,
            other => {
                return Err(format!(
                    "unknown size unit {other:?} in {s:?} (B, KB, KiB, MB, MiB, GB, GiB, TB, TiB)"
                ));
            }
        };
        Ok(ByteSize((n * mult as f64).round() as u64))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => ByteSize::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

/// Parses `"2h"`, `"30m"`, `"90s"`, `"1d"`, `"500ms"`, `"1h30m"`, `"0s"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad =
        || format!("{s:?} is not a duration (write \"2h\", \"30m\", \"90s\", \"1d\" or \"0s\")");
    if t.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86_400),
            _ => return Err(bad()),
        };
    }
    Ok(total)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

/// `[[cleanup_policy]]`: the keys of the API's policy body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDecl {
    pub name: String,
    /// A format id, or `"*"` (the default) for any.
    pub format: Option<String>,
    #[serde(default)]
    pub description: String,
    pub keep_latest: Option<u32>,
    pub published_before_days: Option<u32>,
    pub last_downloaded_before_days: Option<u32>,
    pub name_regex: Option<String>,
}

impl PolicyDecl {
    fn input(&self) -> trove_service::PolicyInput {
        trove_service::PolicyInput {
            name: self.name.clone(),
            format: self.format.clone(),
            description: self.description.clone(),
            keep_latest: self.keep_latest,
            published_before_days: self.published_before_days,
            last_downloaded_before_days: self.last_downloaded_before_days,
            name_regex: self.name_regex.clone(),
        }
    }

    /// As a row owned by the file (checked by [`validate_policies`]).
    pub fn row(&self) -> trove_store::PolicyRow {
        let mut row = trove_service::validate_policy(&self.input()).unwrap_or_default();
        row.managed_by = "config".into();
        row
    }
}

/// Checks the declared policies with the service's rules; returns `(name, format)` of each,
/// what repositories are checked against.
pub fn validate_policies(decls: &[PolicyDecl]) -> anyhow::Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for d in decls {
        let row = trove_service::validate_policy(&d.input())
            .map_err(|e| anyhow::anyhow!("cleanup policy {}: {e}", d.name))?;
        if out.iter().any(|(n, _)| *n == row.name) {
            bail!("cleanup policy {} is declared twice", row.name);
        }
        out.push((row.name, row.format));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        for bad in ["", "2", "h", "2 hours", "-1s", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(ByteSize::parse("1 GiB").unwrap().0, 1 << 30);
        assert_eq!(ByteSize::parse("10GB").unwrap().0, 10_000_000_000);
        assert_eq!(ByteSize::parse("1.5 MiB").unwrap().0, 3 << 19);
        assert_eq!(ByteSize::parse("4096").unwrap().0, 4096);
        assert!(
            ByteSize::parse("3 parsecs")
                .unwrap_err()
                .contains("unknown size unit")
        );
    }
}
