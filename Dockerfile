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
# DejaVu for Latin text and Noto CJK for Chinese: the 8D PDF prints every customer name or refuses (never drops text).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core fonts-noto-cjk && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir ".[api,edge]" && useradd --system --uid 10001 eltrace && mkdir -p /data && chown eltrace /data
USER eltrace
ENTRYPOINT ["eltrace"]
