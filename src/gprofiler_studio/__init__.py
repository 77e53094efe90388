"""gprofiler-studio: stores the profiles of a fleet of gprofiler agents and serves them."""
