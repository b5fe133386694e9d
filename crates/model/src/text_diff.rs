//! Turning a new string into the few splices that change the current text into it.

use unicode_segmentation::UnicodeSegmentation;

/// Edit distance beyond which [`splices`] gives up on a minimal diff and replaces the
/// changed middle in one splice (bounds the time and memory of one call).
const MAX_EDIT_DISTANCE: usize = 400;

/// One splice: at `pos`, delete `delete` characters, then insert `insert`. Positions and
/// lengths count Unicode code points and apply in order, each to the text left by the
/// previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    /// Where, in code points.
    pub pos: usize,
    /// How many code points to delete.
    pub delete: usize,
    /// What to insert.
    pub insert: String,
}

/// The splices that turn `old` into `new`: a diff over grapheme clusters (so an Arabic
/// letter keeps its vowel marks, an emoji its modifiers), minimal up to an edit distance of
/// 400 clusters, beyond which the changed middle is replaced at once. Text nobody changed
/// is never deleted and re-inserted, so another person's concurrent edits inside it
/// survive the merge.
pub fn splices(old: &str, new: &str) -> Vec<Splice> {
    let a: Vec<&str> = old.graphemes(true).collect();
    let b: Vec<&str> = new.graphemes(true).collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let a_mid = &a[prefix..a.len() - suffix];
    let b_mid = &b[prefix..b.len() - suffix];
    let start: usize = a[..prefix].iter().map(|g| g.chars().count()).sum();
    if a_mid.is_empty() && b_mid.is_empty() {
        return Vec::new();
    }
    let ops = myers(a_mid, b_mid, MAX_EDIT_DISTANCE).unwrap_or_else(|| {
        let mut ops: Vec<Op<'_>> = a_mid.iter().map(|_| Op::Delete).collect();
        ops.extend(b_mid.iter().map(|g| Op::Insert(g)));
        ops
    });
    // Group runs of deletes and inserts into splices.
    let mut out: Vec<Splice> = Vec::new();
    let mut pos = start;
    let mut i = 0;
    let mut pending: Option<Splice> = None;
    for op in ops {
        match op {
            Op::Equal => {
                if let Some(s) = pending.take() {
                    pos = s.pos + s.insert.chars().count();
                    out.push(s);
                }
                pos += a_mid[i].chars().count();
                i += 1;
            }
            Op::Delete => {
                let s = pending.get_or_insert_with(|| Splice {
                    pos,
                    delete: 0,
                    insert: String::new(),
                });
                s.delete += a_mid[i].chars().count();
                i += 1;
            }
            Op::Insert(g) => {
                let s = pending.get_or_insert_with(|| Splice {
                    pos,
                    delete: 0,
                    insert: String::new(),
                });
                s.insert.push_str(g);
            }
        }
    }
    out.extend(pending);
    out
}

/// Applies splices to a string (what Automerge does to its text), for tests and previews.
pub fn apply_splices(text: &str, splices: &[Splice]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for s in splices {
        let end = (s.pos + s.delete).min(chars.len());
        let pos = s.pos.min(end);
        chars.splice(pos..end, s.insert.chars());
    }
    chars.into_iter().collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op<'a> {
    Equal,
    Delete,
    Insert(&'a str),
}

/// Myers' O((N+M)D) diff; `None` when the distance exceeds `max_d`.
fn myers<'a>(a: &[&str], b: &[&'a str], max_d: usize) -> Option<Vec<Op<'a>>> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let limit = (a.len() + b.len()).min(max_d) as isize;
    let offset = limit + 1;
    let mut v = vec![0isize; (2 * limit + 3) as usize];
    let mut trace: Vec<Vec<isize>> = Vec::new();
    let idx = |k: isize| (k + offset) as usize;
    for d in 0..=limit {
        trace.push(v.clone());
        let mut k = -d;
        while k <= d {
            let mut x = if k == -d || (k != d && v[idx(k - 1)] < v[idx(k + 1)]) {
                v[idx(k + 1)]
            } else {
                v[idx(k - 1)] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[idx(k)] = x;
            if x >= n && y >= m {
                return Some(backtrack(&trace, b, n, m, idx));
            }
            k += 2;
        }
    }
    None
}

fn backtrack<'a>(
    trace: &[Vec<isize>],
    b: &[&'a str],
    n: isize,
    m: isize,
    idx: impl Fn(isize) -> usize,
) -> Vec<Op<'a>> {
    let (mut x, mut y) = (n, m);
    let mut ops = Vec::new();
    for (d, v) in trace.iter().enumerate().rev() {
        let d = d as isize;
        let k = x - y;
        let prev_k = if k == -d || (k != d && v[idx(k - 1)] < v[idx(k + 1)]) {
            k + 1
        } else {
            k - 1
        };
        let prev_x = v[idx(prev_k)];
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            ops.push(Op::Equal);
            x -= 1;
            y -= 1;
        }
        if d > 0 {
            if x == prev_x {
                ops.push(Op::Insert(b[(y - 1) as usize]));
            } else {
                ops.push(Op::Delete);
            }
        }
        x = prev_x;
        y = prev_y;
    }
    ops.reverse();
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(old: &str, new: &str) -> Vec<Splice> {
        let s = splices(old, new);
        assert_eq!(apply_splices(old, &s), new, "{old:?} -> {new:?}: {s:?}");
        s
    }

    #[test]
    fn splices_are_minimal_and_correct() {
        assert!(check("same", "same").is_empty());
        assert_eq!(
            check("the cat sat", "the black cat sat"),
            vec![Splice {
                pos: 4,
                delete: 0,
                insert: "black ".into()
            }]
        );
        // Two separate edits give two splices, leaving the middle untouched.
        let s = check("alpha beta gamma delta", "ALPHA beta gamma deltas");
        assert_eq!(s.len(), 2, "{s:?}");
        check("", "نص عربي");
        check("مرحبا بكم في وجدة", "مرحبا بكم جميعا في وجدة");
        check("abc", "");
        check("kitten", "sitting");
        // Beyond the edit-distance bound: still correct.
        let old: String = (0..2000)
            .map(|i| if i % 2 == 0 { 'a' } else { 'b' })
            .collect();
        let new: String = (0..2000)
            .map(|i| if i % 3 == 0 { 'b' } else { 'c' })
            .collect();
        check(&old, &new);
    }
}
