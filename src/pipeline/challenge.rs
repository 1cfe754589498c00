//! Head-movement challenge tags and their check against the measured movement direction.

/// A challenge tag of the second image. Tags are case-insensitive on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    Up,
    Down,
    Left,
    Right,
    Any,
}

impl Challenge {
    pub fn parse(tag: &str) -> Option<Challenge> {
        match tag.trim().to_ascii_lowercase().as_str() {
            "up" => Some(Challenge::Up),
            "down" => Some(Challenge::Down),
            "left" => Some(Challenge::Left),
            "right" => Some(Challenge::Right),
            "any" => Some(Challenge::Any),
            _ => None,
        }
    }

    /// The asked direction in the wire convention (360 = image +x, 90 = up), `None` for `any`.
    pub fn direction(self) -> Option<f64> {
        match self {
            Challenge::Right => Some(360.0),
            Challenge::Up => Some(90.0),
            Challenge::Left => Some(180.0),
            Challenge::Down => Some(270.0),
            Challenge::Any => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Challenge::Up => "up",
            Challenge::Down => "down",
            Challenge::Left => "left",
            Challenge::Right => "right",
            Challenge::Any => "any",
        }
    }
}

/// Smallest absolute angle between two directions, in degrees (0..=180).
pub fn angle_between(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// Whether a movement (direction in ]0,360], magnitude in eye distances) answers the challenge.
pub fn satisfied(
    challenge: Challenge,
    direction: f64,
    magnitude: f64,
    tolerance_deg: f64,
    min_magnitude: f64,
) -> bool {
    if direction <= 0.0 || magnitude < min_magnitude {
        return false;
    }
    match challenge.direction() {
        None => true,
        Some(asked) => angle_between(direction, asked) <= tolerance_deg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_case_insensitive() {
        assert_eq!(Challenge::parse("RIGHT"), Some(Challenge::Right));
        assert_eq!(Challenge::parse("Any"), Some(Challenge::Any));
        assert_eq!(Challenge::parse("sideways"), None);
    }

    #[test]
    fn direction_cone() {
        assert!(satisfied(Challenge::Right, 20.0, 0.5, 45.0, 0.1));
        assert!(satisfied(Challenge::Right, 340.0, 0.5, 45.0, 0.1));
        assert!(!satisfied(Challenge::Right, 60.0, 0.5, 45.0, 0.1));
        assert!(satisfied(Challenge::Down, 260.0, 0.5, 45.0, 0.1));
        assert!(!satisfied(Challenge::Up, 260.0, 0.5, 45.0, 0.1));
        assert!(
            !satisfied(Challenge::Any, 90.0, 0.05, 45.0, 0.1),
            "too small"
        );
        assert!(
            !satisfied(Challenge::Any, 0.0, 1.0, 45.0, 0.1),
            "not computed"
        );
    }
}
