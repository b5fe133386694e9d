//! Spending by funder. Expenses are recorded against budget lines, and co-financing is a
//! list of funders' shares inside each line, so what a funder has spent is derived: a
//! line's spending in one currency is split between the line's shares in that currency pro
//! rata of their amounts, over the larger of the line's planned amount (in that currency)
//! and the total of those shares. What the shares do not cover (a line planned at 100 with
//! shares of 60 leaves 40) keeps its part of the spending as "unattributed". A share's
//! status (requested, granted, received) does not change its weight. Amounts of different
//! currencies never meet: a share in MAD takes nothing of spending in EUR.
//!
//! Parts are whole cents. Each part is rounded down, then the cents left over go one by
//! one to the largest remainders (the earlier share on a tie), so the parts and the
//! unattributed remainder always sum exactly to the line's spending.

/// A line's spending split between its shares: one part per share, in the order given,
/// and the unattributed remainder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attribution {
    pub(crate) parts: Vec<i64>,
    pub(crate) unattributed: i64,
}

/// Splits `spent` (hundredths) of a line planned at `planned` between `shares` (all three
/// in one currency; `planned` is 0 when the line is planned in another currency or not at
/// all). Negative amounts of a share or a plan count as zero; a negative spending (a
/// refund) is split like a positive one, with the sign kept.
pub(crate) fn attribute(spent: i64, planned: i64, shares: &[i64]) -> Attribution {
    let weights: Vec<i128> = shares.iter().map(|s| i128::from((*s).max(0))).collect();
    let covered: i128 = weights.iter().sum();
    let base = covered.max(i128::from(planned.max(0)));
    if base == 0 || spent == 0 {
        return Attribution {
            parts: vec![0; shares.len()],
            unattributed: spent,
        };
    }
    let total = i128::from(spent).abs();
    let mut all = weights;
    all.push(base - covered);
    // Rounded down, with the remainder of each division.
    let mut parts: Vec<(i128, i128)> = all
        .iter()
        .map(|w| (total * w / base, total * w % base))
        .collect();
    let given: i128 = parts.iter().map(|(p, _)| p).sum();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|a, b| parts[*b].1.cmp(&parts[*a].1).then(a.cmp(b)));
    // Fewer cents are left over than there are parts: each remainder is below one cent.
    let left = usize::try_from(total - given).unwrap_or(0);
    for i in order.into_iter().take(left) {
        parts[i].0 += 1;
    }
    let sign = i128::from(spent.signum());
    let mut parts: Vec<i64> = parts
        .into_iter()
        .map(|(p, _)| i64::try_from(p * sign).unwrap_or(0))
        .collect();
    let unattributed = parts.pop().unwrap_or(0);
    Attribution {
        parts,
        unattributed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums_to(spent: i64, a: &Attribution) {
        assert_eq!(
            a.parts.iter().sum::<i64>() + a.unattributed,
            spent,
            "{a:?} does not sum to {spent}"
        );
    }

    #[test]
    fn a_fully_covered_line_is_split_by_shares() {
        // Planned 100 000, AFD 75 000 and the commune 25 000; 10 000 spent.
        let a = attribute(1_000_000, 10_000_000, &[7_500_000, 2_500_000]);
        assert_eq!(a.parts, [750_000, 250_000]);
        assert_eq!(a.unattributed, 0);
    }

    #[test]
    fn what_the_shares_do_not_cover_stays_unattributed() {
        // Planned 20 000, AFD 15 000: 5 000 spent is 3 750 AFD and 1 250 unattributed.
        let a = attribute(500_000, 2_000_000, &[1_500_000]);
        assert_eq!(a.parts, [375_000]);
        assert_eq!(a.unattributed, 125_000);
        // No share at all: everything unattributed.
        assert_eq!(
            attribute(500_000, 2_000_000, &[]),
            Attribution {
                parts: vec![],
                unattributed: 500_000
            }
        );
        // Neither a plan nor shares in this currency.
        assert_eq!(attribute(700, 0, &[0]).unattributed, 700);
    }

    #[test]
    fn shares_over_the_plan_take_everything_pro_rata_of_the_shares() {
        // Planned 100, shares 100 and 50: the base is 150, nothing unattributed.
        let a = attribute(300, 100, &[100, 50]);
        assert_eq!(a.parts, [200, 100]);
        assert_eq!(a.unattributed, 0);
        // No plan in this currency: the shares are the base.
        let a = attribute(90, 0, &[1, 2]);
        assert_eq!(a.parts, [30, 60]);
    }

    #[test]
    fn parts_are_whole_cents_and_sum_exactly_to_the_spending() {
        // 1.00 in three equal shares: 0.34 to the first (ties go to the earlier), 0.33 each.
        let a = attribute(100, 300, &[100, 100, 100]);
        assert_eq!(a.parts, [34, 33, 33]);
        sums_to(100, &a);
        // 0.01 spent, two thirds to one funder: the cent goes to the largest remainder.
        let a = attribute(1, 3, &[1, 2]);
        assert_eq!(a.parts, [0, 1]);
        // 10/7, 10/7 and 20/7 to the shares, 30/7 unattributed: 1.43, 1.43, 2.86, 4.29;
        // rounded down 1, 1, 2, 4 and two cents left, to 0.86 first, then to the earlier 0.43.
        let a = attribute(10, 7, &[1, 1, 2]);
        sums_to(10, &a);
        assert_eq!(a.parts, [2, 1, 3]);
        assert_eq!(a.unattributed, 4);
        for (spent, planned, shares) in [
            (999_999, 1_000_000, vec![333_333, 333_333, 1]),
            (12_345, 0, vec![7, 11, 13, 17]),
            (i64::MAX / 4, i64::MAX / 2, vec![i64::MAX / 3, 5]),
            (1, 1_000_000, vec![999_999]),
        ] {
            sums_to(spent, &attribute(spent, planned, &shares));
        }
    }

    #[test]
    fn refunds_keep_their_sign_and_bad_amounts_weigh_nothing() {
        let a = attribute(-100, 200, &[100]);
        assert_eq!(a.parts, [-50]);
        assert_eq!(a.unattributed, -50);
        // A negative share weighs nothing; a negative plan is no plan.
        let a = attribute(100, -5, &[-100, 100]);
        assert_eq!(a.parts, [0, 100]);
        assert_eq!(a.unattributed, 0);
        assert_eq!(attribute(0, 100, &[50]).parts, [0]);
    }
}
