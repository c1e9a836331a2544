# The web console (docs/dashboards.md): dashboards/web/ plus uPlot from npm
# (installed by `make deps` from dashboards/package-lock.json into
# $(O)/npm) copied into $(O)/web, where ukcollectd finds it (bin/../web);
# every file also precompressed as FILE.gz for clients that accept gzip.
WEB_FILES := $(notdir $(wildcard dashboards/web/*.html dashboards/web/*.js dashboards/web/*.css))
UPLOT_DIR := $(O)/npm/node_modules/uplot/dist
WEB_OUT := $(addprefix $(O)/web/,$(WEB_FILES) uPlot.iife.min.js uPlot.min.css)

$(O)/web/%: dashboards/web/% | $(O)/deps.stamp
	@mkdir -p $(dir $@)
	$(Q)cp $< $@ && gzip -9 -n -c $@ > $@.gz
$(O)/web/uPlot.%: $(UPLOT_DIR)/uPlot.% | $(O)/deps.stamp
	@mkdir -p $(dir $@)
	$(Q)cp $< $@ && gzip -9 -n -c $@ > $@.gz
$(UPLOT_DIR)/%: | $(O)/deps.stamp
	@test -f $@ || { echo "Failed to find $@: run make deps (npm ci)"; exit 1; }

web: $(WEB_OUT)
host: web
.PHONY: web

# `make demo`: the collector, 8 instances (2 panic after a minute), Prometheus
# if installed; `make demo-stop` ends them.  `make docs-screenshot`
# regenerates README's docs/img/fleet.png from a short live fleet.
demo: all
	$(Q)python3 dashboards/demo.py start --build $(O)
demo-stop:
	$(Q)python3 dashboards/demo.py stop --build $(O)
docs-screenshot: all
	@mkdir -p docs/img
	$(Q)python3 dashboards/demo.py screenshot docs/img/fleet.png --build $(O)
.PHONY: demo demo-stop docs-screenshot
