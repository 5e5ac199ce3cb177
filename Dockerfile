# The operator's image: `docker build -t <registry>/taskengine:0.1.0 .`, then install the chart
# with --set image.repository=<registry>/taskengine.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && rm -rf /build

WORKDIR /
# the chart runs it as this non-root user with a read-only root file system
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["taskengine"]
CMD ["operator"]
