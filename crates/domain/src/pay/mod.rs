//! The pay rules engine (see docs/PAY-RULES in shared spec).
