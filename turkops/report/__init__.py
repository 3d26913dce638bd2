"""Human-facing outputs of collect: the self-contained HTML report and its plot."""
