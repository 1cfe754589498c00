//! Whether this CPU can run this build.
//!
//! On x86-64 the project builds for the x86-64-v3 level (`.cargo/config.toml`: AVX2, FMA,
//! BMI1/2, F16C, LZCNT, MOVBE; Intel from Haswell, 2013, AMD from Excavator, 2015), which
//! scores a job in 4 % less CPU than the baseline level with the same results bit for bit
//! (docs/performance.md, "The build for x86-64-v3"). A binary built that way would die of an
//! illegal instruction somewhere in a job on an older CPU; [`check`] lets it refuse to start
//! instead, naming what is missing and how to build for that CPU.

/// The features this build was compiled to use that the CPU does not have (empty when it
/// runs here, and always on other architectures or on a baseline build).
pub fn missing_features() -> Vec<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        x86::missing()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Vec::new()
    }
}

/// `Err` with a message for the operator when this CPU lacks a feature the build uses.
pub fn check() -> Result<(), String> {
    let missing = missing_features();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "this binary was built for x86-64-v3 CPUs, and this CPU lacks {}; build it for this \
         CPU with RUSTFLAGS=\"-C target-cpu=x86-64\" cargo build --release (or docker build \
         --build-arg TARGET_CPU=x86-64)",
        missing.join(", ")
    ))
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::__cpuid_count;

    /// An x86-64-v3 feature: its name (as in `/proc/cpuinfo`, where LZCNT is `abm`), whether
    /// the build uses it, and where CPUID reports it. `is_x86_feature_detected!` cannot tell:
    /// in a build that enables a feature it answers yes at compile time.
    pub(super) struct Feature {
        pub name: &'static str,
        pub used: bool,
        leaf: u32,
        in_ebx: bool,
        bit: u32,
    }

    const fn f(name: &'static str, used: bool, leaf: u32, in_ebx: bool, bit: u32) -> Feature {
        Feature {
            name,
            used,
            leaf,
            in_ebx,
            bit,
        }
    }

    pub(super) const FEATURES: [Feature; 8] = [
        f("avx", cfg!(target_feature = "avx"), 1, false, 28),
        f("avx2", cfg!(target_feature = "avx2"), 7, true, 5),
        f("fma", cfg!(target_feature = "fma"), 1, false, 12),
        f("bmi1", cfg!(target_feature = "bmi1"), 7, true, 3),
        f("bmi2", cfg!(target_feature = "bmi2"), 7, true, 8),
        f("f16c", cfg!(target_feature = "f16c"), 1, false, 29),
        f("abm", cfg!(target_feature = "lzcnt"), 0x8000_0001, false, 5),
        f("movbe", cfg!(target_feature = "movbe"), 1, false, 22),
    ];

    impl Feature {
        /// Whether the CPU reports it (a leaf beyond the CPU's highest is not there).
        pub(super) fn present(&self) -> bool {
            let highest = __cpuid_count(self.leaf & 0x8000_0000, 0).eax;
            if self.leaf > highest {
                return false;
            }
            let r = __cpuid_count(self.leaf, 0);
            let word = if self.in_ebx { r.ebx } else { r.ecx };
            word >> self.bit & 1 == 1
        }
    }

    pub(super) fn missing() -> Vec<&'static str> {
        FEATURES
            .iter()
            .filter(|f| f.used && !f.present())
            .map(|f| f.name)
            .collect()
    }

    #[cfg(all(test, target_os = "linux"))]
    mod tests {
        use super::*;

        #[test]
        fn cpuid_says_what_the_kernel_says() {
            let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
            let flags: Vec<&str> = cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("flags"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, f)| f.split_whitespace().collect())
                .unwrap();
            for f in &FEATURES {
                assert_eq!(f.present(), flags.contains(&f.name), "{}", f.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_that_built_the_tests_runs_them() {
        assert_eq!(missing_features(), Vec::<&str>::new());
        assert_eq!(check(), Ok(()));
    }
}
