module sluice

go 1.27
