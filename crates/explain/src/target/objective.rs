//! What is explained besides a class's score, by name: the command line's `--objective`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::{BinaryOutput, ClassSum, FinerWeighted, RawScores, ReSt, Region, Score, Target};
use crate::error::ParseTargetError;

/// A target other than a class's score, as text names it:
///
/// | text | target |
/// |---|---|
/// | `sum:3,8` | [`ClassSum`]: the score of each listed class, summed (multi-label) |
/// | `finer:3,5,8` | [`FinerWeighted`] against those classes, alpha 1 (Finer-CAM) |
/// | `binary:positive`, `binary:negative` | [`BinaryOutput`]: a one-output model's output or its negation |
/// | `raw-scores` | [`RawScores`]: the sum of the outputs |
/// | `rest` | [`ReSt`]: the logit plus the log-probability |
/// | `region` | [`Region::predicted`]: a segmentation network's class over the pixels it predicts as that class |
///
/// ```
/// use gradcam_explain::{Objective, Score, Targets};
/// let objective: Objective = "sum:3,8".parse()?;
/// assert_eq!(objective, Objective::Sum(vec![3, 8]));
/// assert_eq!(objective.to_string(), "sum:3,8");
/// let targets = Targets::predicted().with_shared_target(objective.target(Score::Logit));
/// assert_eq!(targets.target().label(), "sum of logit at classes 3, 8");
/// assert!("binary".parse::<Objective>().is_err());
/// # Ok::<(), gradcam_explain::ParseTargetError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Objective {
    /// `sum:<classes>`.
    Sum(Vec<usize>),
    /// `finer:<classes>`.
    Finer(Vec<usize>),
    /// `binary:positive` (`true`) or `binary:negative`.
    Binary(bool),
    /// `raw-scores`.
    RawScores,
    /// `rest`.
    ReSt,
    /// `region`.
    PredictedRegion,
}

impl Objective {
    /// The target this objective names; `score` is the class score a sum adds up.
    pub fn target(&self, score: Score) -> Arc<dyn Target> {
        match self {
            Self::Sum(classes) => Arc::new(ClassSum::new(classes.clone(), score)),
            Self::Finer(classes) => Arc::new(FinerWeighted::new(classes.clone(), 1.0)),
            Self::Binary(positive) => Arc::new(BinaryOutput {
                positive: *positive,
            }),
            Self::RawScores => Arc::new(RawScores),
            Self::ReSt => Arc::new(ReSt),
            Self::PredictedRegion => Arc::new(Region::predicted()),
        }
    }
}

/// Comma-separated class numbers.
pub(super) fn class_list(text: &str, list: &str) -> Result<Vec<usize>, ParseTargetError> {
    list.split(',')
        .map(|c| {
            c.trim().parse::<usize>().map_err(|e| ParseTargetError {
                text: text.to_owned(),
                reason: format!("{c:?} is not a class number ({e})"),
            })
        })
        .collect()
}

impl FromStr for Objective {
    type Err = ParseTargetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (kind, rest) = text.split_once(':').unwrap_or((text, ""));
        Ok(match (kind, rest) {
            ("sum", list) => Self::Sum(class_list(text, list)?),
            ("finer", list) => Self::Finer(class_list(text, list)?),
            ("binary", "positive") => Self::Binary(true),
            ("binary", "negative") => Self::Binary(false),
            ("raw-scores", "") => Self::RawScores,
            ("rest", "") => Self::ReSt,
            ("region", "") => Self::PredictedRegion,
            _ => {
                return Err(ParseTargetError {
                    text: text.to_owned(),
                    reason: "expected sum:<classes>, finer:<classes>, binary:positive, \
                             binary:negative, raw-scores, rest or region"
                        .to_owned(),
                });
            }
        })
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |classes: &[usize]| {
            classes
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            Self::Sum(classes) => write!(f, "sum:{}", list(classes)),
            Self::Finer(classes) => write!(f, "finer:{}", list(classes)),
            Self::Binary(true) => f.write_str("binary:positive"),
            Self::Binary(false) => f.write_str("binary:negative"),
            Self::RawScores => f.write_str("raw-scores"),
            Self::ReSt => f.write_str("rest"),
            Self::PredictedRegion => f.write_str("region"),
        }
    }
}
