# fitsflow: one image for every role of the distributed mode. The role is the
# sub-command: `docker run IMAGE watch`, `… worker`, `… api`, `… db upgrade`.
# docker-compose.yml wires them together; docs/deployment.md explains how.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed uid/gid, so files on a shared (NFS/Lustre) inbox can be granted to it.
RUN groupadd --system --gid 10001 fitsflow \
 && useradd --system --uid 10001 --gid fitsflow --create-home --home-dir /home/fitsflow \
        --shell /usr/sbin/nologin fitsflow

WORKDIR /opt/fitsflow

# Only what the installed program reads (and setup.py, which builds the C
# extensions); tests, benchmarks and docs stay out.
COPY pyproject.toml setup.py alembic.ini ./
COPY config/ config/
COPY migrations/ migrations/
COPY pipeline/ pipeline/
COPY workers/ workers/

# Editable on purpose: pipeline/db/migrate.py finds alembic.ini (and through it
# migrations/) beside the source tree, and pipeline/settings.py finds
# config/fitsflow.toml the same way; neither is inside the wheel, so a plain
# `pip install .` would leave `fitsflow db upgrade` without its revisions.
# No extras: the image carries no test or development tools. The slim image
# has no C compiler: gcc is installed for the build of the C card tokenizer
# (pipeline/fits/_ctokenizer.c), the TAN footprint
# (pipeline/extract/_cfootprint.c) and the sky box (pipeline/search/_csky.c)
# and purged in the same layer, so the image keeps the compiled modules and
# not the compiler. Importing them proves the
# build worked: without them headers would be read several times slower.
RUN apt-get update \
 && apt-get install --yes --no-install-recommends gcc libc6-dev \
 && pip install --editable . \
 && python -c "import pipeline.fits._ctokenizer, pipeline.extract._cfootprint, pipeline.search._csky" \
 && apt-get purge --yes --auto-remove gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/* \
 && python -m compileall -q pipeline workers migrations

# The watched directory. A new named volume mounted here starts as a copy of
# this (empty, fitsflow-owned) directory, so the service user can use it.
RUN mkdir -p /data/inbox && chown fitsflow:fitsflow /data/inbox

USER fitsflow
ENTRYPOINT ["fitsflow"]
CMD ["--help"]
