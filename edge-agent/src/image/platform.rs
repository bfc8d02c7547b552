//! Platforms (`linux/arm64`, `wasi/wasm`) and the choice of an image index entry for this node.

use std::fmt;

/// An OCI platform: what an image index entry is built for, or what this node runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// The platform of this build of the agent, in OCI's names.
    pub fn native() -> Platform {
        match std::env::consts::ARCH {
            "x86_64" => Platform::new("linux", "amd64", None),
            "aarch64" => Platform::new("linux", "arm64", None),
            // Raspberry Pi OS 32-bit and every other armhf distribution need ARMv7; an ARMv6
            // build (Pi Zero, Pi 1) only runs v6 images.
            "arm" if cfg!(target_feature = "v7") => Platform::new("linux", "arm", Some("v7")),
            "arm" => Platform::new("linux", "arm", Some("v6")),
            "x86" => Platform::new("linux", "386", None),
            "riscv64" => Platform::new("linux", "riscv64", None),
            other => Platform::new("linux", other, None),
        }
    }

    /// Wasm components, as indexes list them (`wasi/wasm`, `wasip2/wasm`, `wasip1/wasm32`, ...).
    pub fn wasm() -> Platform {
        Platform::new("wasi", "wasm", None)
    }

    fn is_wasm(&self) -> bool {
        self.os.starts_with("wasi") || self.architecture == "wasm" || self.architecture == "wasm32"
    }

    /// How well an index entry for `entry` fits `self`: `None` when it cannot run, else a rank
    /// where lower is better.
    fn fit(&self, entry: &Platform) -> Option<u8> {
        if self.is_wasm() {
            if !entry.is_wasm() {
                return None;
            }
            // Components are WASI 0.2; say so when the index distinguishes.
            return Some(match entry.os.as_str() {
                "wasip2" => 0,
                "wasi" => 1,
                _ => 2,
            });
        }
        let (architecture, variant) = normalise(&entry.architecture, entry.variant.as_deref());
        if entry.os != self.os || architecture != self.architecture {
            return None;
        }
        match (self.architecture.as_str(), self.variant.as_deref(), variant) {
            ("arm", Some(want), have) => {
                // An ARM CPU runs its own and every older variant, preferring its own.
                let level = |v: &str| v.strip_prefix('v').and_then(|n| n.parse::<u8>().ok());
                let want = level(want)?;
                let have = level(have.unwrap_or("v7"))?;
                (have <= want).then(|| want - have)
            }
            ("arm64", _, None | Some("v8")) => Some(0),
            ("amd64", _, None | Some("v1")) => Some(0),
            (_, want, have) => (want == have).then_some(0),
        }
    }
}

/// containerd's normalisation of the architecture names found in the wild.
fn normalise<'a>(architecture: &'a str, variant: Option<&'a str>) -> (&'a str, Option<&'a str>) {
    match (architecture, variant) {
        ("x86_64" | "x86-64", v) => ("amd64", v),
        ("aarch64", v) => ("arm64", v),
        ("armhf", _) => ("arm", Some("v7")),
        ("armel", _) => ("arm", Some("v6")),
        ("i386", v) => ("386", v),
        (a, Some("")) => (a, None),
        (a, v) => (a, v),
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// The index entry to use: the best fit for the first platform in `wanted` that any entry fits.
pub(crate) fn choose<'a>(
    wanted: &[Platform],
    entries: impl Iterator<Item = &'a Platform> + Clone,
) -> Option<usize> {
    wanted.iter().find_map(|want| {
        entries
            .clone()
            .enumerate()
            .filter_map(|(i, entry)| want.fit(entry).map(|rank| (rank, i)))
            .min()
            .map(|(_, i)| i)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Platform {
        let mut parts = text.split('/');
        let os = parts.next().unwrap_or_default();
        let arch = parts.next().unwrap_or_default();
        Platform::new(os, arch, parts.next())
    }

    #[test]
    fn index_entries_are_chosen_by_fit_then_by_preference() {
        let entries = [
            "linux/amd64",
            "linux/arm/v6",
            "linux/arm/v7",
            "linux/arm64/v8",
            "unknown/unknown",
            "wasi/wasm",
            "wasip2/wasm",
        ];
        let entries: Vec<Platform> = entries.iter().map(|e| p(e)).collect();
        // (wanted, chosen entry)
        let cases: [(&[&str], Option<&str>); 9] = [
            (&["linux/amd64"], Some("linux/amd64")),
            (&["linux/arm64"], Some("linux/arm64/v8")),
            (&["linux/arm/v7"], Some("linux/arm/v7")),
            (&["linux/arm/v6"], Some("linux/arm/v6")),
            (&["linux/arm/v5"], None),
            (&["linux/riscv64"], None),
            (&["linux/riscv64", "wasi/wasm"], Some("wasip2/wasm")),
            (&["wasi/wasm", "linux/amd64"], Some("wasip2/wasm")),
            (&["linux/amd64", "wasi/wasm"], Some("linux/amd64")),
        ];
        for (wanted, chosen) in cases {
            let wanted: Vec<Platform> = wanted.iter().map(|w| p(w)).collect();
            let got = choose(&wanted, entries.iter()).map(|i| entries[i].to_string());
            assert_eq!(got.as_deref(), chosen, "{wanted:?}");
        }
    }

    #[test]
    fn arm_v7_falls_back_to_older_variants_and_aliases() {
        let want = [p("linux/arm/v7")];
        let entries = [p("linux/arm/v5"), p("linux/arm/v6")];
        assert_eq!(choose(&want, entries.iter()), Some(1));
        let entries = [p("linux/armhf")];
        assert_eq!(choose(&want, entries.iter()), Some(0));
        let entries = [p("linux/aarch64")];
        assert_eq!(choose(&[p("linux/arm64")], entries.iter()), Some(0));
        assert_eq!(choose(&[p("linux/amd64")], entries.iter()), None);
    }

    #[test]
    fn native_platform_is_a_linux_platform() {
        let native = Platform::native();
        assert_eq!(native.os, "linux");
        assert!(!native.architecture.is_empty());
    }
}
