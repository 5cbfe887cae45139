# One image for every eltrace process; the command picks the role (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY services ./services
COPY api ./api
COPY edge ./edge
COPY cli ./cli
COPY models ./models
RUN pip install --no-cache-dir ".[api,edge]" && useradd --system --uid 10001 eltrace && mkdir -p /data && chown eltrace /data
USER eltrace
ENTRYPOINT ["eltrace"]
