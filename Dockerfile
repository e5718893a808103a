FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api api
COPY workers workers
COPY routing routing
COPY config config
COPY common common
COPY simulator simulator
COPY cli cli
COPY records records
RUN pip install --no-cache-dir ".[dev]"
# Not root: Celery warns about root for good reason, and nothing here needs it.
RUN useradd --system --create-home tiergate
USER tiergate
EXPOSE 4000
CMD ["tiergate", "api", "--port", "4000"]
