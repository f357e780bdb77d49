//! Random numbers: the testkit's seeded SplitMix64 with talc's size and
//! alignment draws for our own suites, and a replica of
//! the `rand` 0.8 generator the upstream ArceOS benchmark uses, so the four
//! upstream workloads see the very same shuffle and key sequence.

pub use allocator_testkit::Rng;

/// talc's benchmark draws, over the workspace's seeded SplitMix64
/// ([`allocator_testkit::Rng`]).
pub trait TalcDraws {
    /// A size drawn as talc's benchmark draws it (`generate_size`): a cap
    /// uniform in `16..max`, then a size uniform in `4..cap`. Most sizes land
    /// well below `max`, few near it.
    fn talc_size(&mut self, max: usize) -> usize;

    /// An alignment drawn as talc's benchmark draws it (`generate_align`):
    /// the word size shifted left by half the trailing zeros of a random
    /// `u16`: 75% 8 bytes, 19% 16, 4% 32, ..., at most 2 KiB.
    fn talc_align(&mut self) -> usize;
}

impl TalcDraws for Rng {
    fn talc_size(&mut self, max: usize) -> usize {
        let cap = self.range(16, max);
        self.range(4, cap)
    }

    fn talc_align(&mut self) -> usize {
        let bits = (self.next_u64() >> 48) as u16;
        core::mem::size_of::<usize>() << (bits.trailing_zeros() / 2)
    }
}

/// A replica of `rand` 0.8's `SmallRng` on 64-bit targets (Xoshiro256++,
/// seeded through PCG32 by `seed_from_u64`), with the two operations the
/// upstream benchmark uses: `next_u32` and `SliceRandom::shuffle`.
#[derive(Debug, Clone)]
pub struct SmallRng {
    s: [u64; 4],
}

impl SmallRng {
    /// As `rand::rngs::SmallRng::seed_from_u64(seed)` in rand 0.8:
    /// `SmallRng` does not override rand_core 0.6's provided
    /// `seed_from_u64`, which fills the 32-byte seed with PCG32 outputs
    /// (little-endian), read back as four little-endian words.
    pub fn seed_from_u64(mut state: u64) -> Self {
        const MUL: u64 = 6_364_136_223_846_793_005;
        const INC: u64 = 11_634_580_027_462_260_723;
        let mut pcg32 = || {
            state = state.wrapping_mul(MUL).wrapping_add(INC);
            let xorshifted = (((state >> 18) ^ state) >> 27) as u32;
            u64::from(xorshifted.rotate_right((state >> 59) as u32))
        };
        let mut s = [0u64; 4];
        for word in &mut s {
            let low = pcg32();
            *word = low | (pcg32() << 32);
        }
        if s == [0; 4] {
            // `from_seed` never keeps the all-zero state.
            return Self::seed_from_u64(0);
        }
        Self { s }
    }

    /// The next 64 bits (Xoshiro256++).
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[0].wrapping_add(self.s[3]).rotate_left(23).wrapping_add(self.s[0]);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// The next 32 bits: the upper half of `next_u64`, as rand 0.8 takes them.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// `rng.gen_range(0..bound)` for a `u32` bound, as rand 0.8's
    /// `UniformInt::sample_single` computes it (widening multiply, rejection
    /// zone `(range << lz) - 1`).
    fn below(&mut self, bound: u32) -> u32 {
        let zone = (bound << bound.leading_zeros()).wrapping_sub(1);
        loop {
            let wide = u64::from(self.next_u32()) * u64::from(bound);
            if (wide as u32) <= zone {
                return (wide >> 32) as u32;
            }
        }
    }

    /// `slice.shuffle(&mut rng)` as rand 0.8 does it (Fisher-Yates from the
    /// back, indices drawn with `gen_range(0..i + 1)`).
    pub fn shuffle<T>(&mut self, slice: &mut [T]) {
        for i in (1..slice.len()).rev() {
            // The upstream workloads shuffle at most 25,000 elements, far
            // below `u32::MAX`, the only case rand draws with 32 bits.
            let bound = u32::try_from(i + 1).unwrap_or(u32::MAX);
            slice.swap(i, self.below(bound) as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_reference_vector() {
        // Reference values of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        let mut rng = Rng::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn talc_draws_stay_in_their_ranges() {
        let mut rng = Rng::new(7);
        let mut eights = 0;
        for _ in 0..10_000 {
            let size = rng.talc_size(1000);
            assert!((4..1000).contains(&size));
            let align = rng.talc_align();
            assert!(align.is_power_of_two() && (8..=2048).contains(&align));
            eights += usize::from(align == 8);
        }
        // 75% of the alignments are the word size.
        assert!((7000..8000).contains(&eights), "{eights}");
    }

    /// Reference values printed by rand 0.8.5 itself
    /// (`SmallRng::seed_from_u64(0xdead_beef)`, then `next_u32` five times;
    /// a fresh one shuffling `0..25_000`).
    #[test]
    fn small_rng_matches_rand_0_8() {
        let mut rng = SmallRng::seed_from_u64(0xdead_beef);
        let words: Vec<u32> = (0..5).map(|_| rng.next_u32()).collect();
        assert_eq!(words, [2336518801, 3111568814, 966487760, 1764966875, 3746340718]);
        let mut rng = SmallRng::seed_from_u64(0xdead_beef);
        let mut v: Vec<usize> = (0..25_000).collect();
        rng.shuffle(&mut v);
        assert_eq!(v[..8], [17994, 24413, 18527, 22630, 3754, 16604, 18976, 4389]);
        let digest =
            v.iter().enumerate().map(|(i, x)| i * x).fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(b));
        assert_eq!(digest, 13038763177203810605);
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut rng = SmallRng::seed_from_u64(0xdead_beef);
        let mut v: Vec<usize> = (0..1000).collect();
        rng.shuffle(&mut v);
        assert_ne!(v, (0..1000).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..1000).collect::<Vec<_>>());
    }
}
