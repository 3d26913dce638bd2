"""The study store: SQLAlchemy models, engine/migrations, repository functions."""
