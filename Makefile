# Convenience targets; each one calls ./dev.sh, which works without make too.
.PHONY: run test build asan bench format clean deps
run:
	./dev.sh run
test:
	./dev.sh test
build:
	./dev.sh build
asan:
	./dev.sh asan
bench:
	./dev.sh bench
format:
	./dev.sh format
deps:
	./dev.sh deps
clean:
	./dev.sh clean
