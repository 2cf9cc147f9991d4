# shadow-agents in a container. Build:  docker build -t shadow-agents .
# Scan a directory:        docker run --rm -v "$PWD:/scan:ro" shadow-agents scan -d repo -p /scan
# Scan the host's processes (the host's PID namespace; root with CAP_SYS_PTRACE to read other
# users' environments and open files):
#   docker run --rm --pid=host --user 0 --cap-add SYS_PTRACE shadow-agents scan -d process
# See the README's "Container" section for what each flag gives and what it costs.

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY scanner ./scanner
COPY detectors ./detectors
COPY reports ./reports
RUN python -m pip install --no-cache-dir build==1.6.1 \
    && python -m build --wheel --outdir /dist

FROM python:3.12-slim
# git: --history and owner guesses; libpcap: capture filters for live capture.
# Debian point releases replace these package versions, so they are not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git libpcap0.8 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /dist /dist
RUN python -m pip install --no-cache-dir /dist/*.whl \
    && rm -rf /dist \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin scanner
USER 10001
WORKDIR /scan
ENTRYPOINT ["shadow-agents"]
CMD ["scan", "-p", "/scan"]
