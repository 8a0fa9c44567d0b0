"""WSGI and CLI entry point: `flask --app run …`, `gunicorn run:app`."""
from dotenv import load_dotenv

load_dotenv()

from app import create_app  # noqa: E402 - .env must be loaded before the config is read

app = create_app()
